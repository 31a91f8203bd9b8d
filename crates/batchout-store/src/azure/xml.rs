//! The XML of List Blobs, List Containers and of error answers.

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::{BlobType, ContainerInfo, ContainerName, ListPage, ObjectMeta};

/// One page of a List Containers answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ContainerPage {
    /// The containers on this page (any whose name batchout could not hold
    /// is left out).
    pub containers: Vec<ContainerInfo>,
    /// The marker of the next page, if any.
    pub next_marker: Option<String>,
}

/// Parses a List Containers answer (with `include=metadata`).
///
/// # Errors
///
/// A description of the XML error.
pub fn parse_containers(xml: &str) -> Result<ContainerPage, String> {
    let mut reader = Reader::from_str(xml);
    let mut page = ContainerPage::default();
    let mut path: Vec<String> = Vec::new();
    // The container being read: its name, time and metadata.
    let mut current: Option<(String, Option<SystemTime>, crate::ContainerMetadata)> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if name == "Container" {
                    current = Some(Default::default());
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some("Container")
                    && let Some((name, modified, metadata)) = current.take()
                    && let Ok(name) = ContainerName::parse(&name)
                {
                    let mut info = ContainerInfo::new(name);
                    info.last_modified = modified;
                    info.metadata = metadata;
                    page.containers.push(info);
                }
            }
            Event::Text(text) => {
                let value = text.unescape().map_err(|e| e.to_string())?.into_owned();
                let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
                match (parent, path.last().map(String::as_str), current.as_mut()) {
                    (Some("Container"), Some("Name"), Some(c)) => c.0 = value,
                    (Some("Properties"), Some("Last-Modified"), Some(c)) => {
                        c.1 = parse_http_date(&value);
                    }
                    (Some("Metadata"), Some(key), Some(c)) => {
                        c.2.insert(key.to_owned(), value);
                    }
                    (Some("EnumerationResults"), Some("NextMarker"), _) if !value.is_empty() => {
                        page.next_marker = Some(value);
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(page)
}

/// Parses a List Blobs answer.
///
/// # Errors
///
/// A description of the XML error.
pub fn parse_list(xml: &str) -> Result<ListPage, String> {
    let mut reader = Reader::from_str(xml);
    let mut page = ListPage::default();
    let mut path: Vec<String> = Vec::new();
    let mut blob: Option<ObjectMeta> = None;
    let mut encoded = false;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if name == "Blob" {
                    blob = Some(ObjectMeta::new(String::new(), 0));
                }
                if name == "Name" {
                    encoded = start
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"Encoded" && a.value.as_ref() == b"true");
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some("Blob")
                    && let Some(done) = blob.take()
                {
                    page.objects.push(done);
                }
            }
            Event::Text(text) => {
                let value = text.unescape().map_err(|e| e.to_string())?.into_owned();
                let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
                match (parent, path.last().map(String::as_str)) {
                    (Some("Blob"), Some("Name")) => {
                        if let Some(b) = blob.as_mut() {
                            b.name = decode_name(value, encoded);
                        }
                    }
                    (Some("BlobPrefix"), Some("Name")) => {
                        page.prefixes.push(decode_name(value, encoded))
                    }
                    (Some("EnumerationResults"), Some("NextMarker")) if !value.is_empty() => {
                        page.next_marker = Some(value);
                    }
                    (Some("Properties"), Some(field)) => {
                        if let Some(b) = blob.as_mut() {
                            apply_property(b, field, &value);
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(page)
}

fn decode_name(value: String, encoded: bool) -> String {
    if encoded {
        percent_encoding::percent_decode_str(&value)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        value
    }
}

fn apply_property(blob: &mut ObjectMeta, field: &str, value: &str) {
    match field {
        "Content-Length" => blob.size = value.parse().unwrap_or(0),
        "Last-Modified" => blob.last_modified = parse_http_date(value),
        "Content-Type" if !value.is_empty() => blob.content_type = Some(value.to_owned()),
        "Etag" => blob.etag = Some(value.to_owned()),
        "BlobType" => blob.blob_type = parse_blob_type(value),
        _ => {}
    }
}

/// A date as the service writes it (RFC 1123).
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value).ok()
}

/// `BlockBlob` / `AppendBlob`.
pub fn parse_blob_type(value: &str) -> Option<BlobType> {
    match value {
        "BlockBlob" => Some(BlobType::Block),
        "AppendBlob" => Some(BlobType::Append),
        _ => None,
    }
}

/// The `Code` and `Message` of an error answer.
pub fn parse_error(xml: &str) -> (Option<String>, Option<String>) {
    let mut reader = Reader::from_str(xml);
    let (mut code, mut message) = (None, None);
    let mut current = String::new();
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(start) => {
                current = String::from_utf8_lossy(start.name().as_ref()).into_owned()
            }
            Event::Text(text) => {
                let value = text.unescape().map(|v| v.into_owned()).unwrap_or_default();
                match current.as_str() {
                    "Code" => code = Some(value),
                    // The service appends request ids and times on new lines.
                    "Message" => message = value.lines().next().map(str::to_owned),
                    _ => {}
                }
            }
            Event::End(_) => current.clear(),
            Event::Eof => break,
            _ => {}
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blobs_prefixes_and_markers() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c">
  <Prefix>t1/</Prefix><Delimiter>/</Delimiter>
  <Blobs>
    <Blob><Name>t1/$TaskLog/a &amp; b.txt</Name><Properties>
      <Last-Modified>Tue, 24 Nov 2026 17:00:00 GMT</Last-Modified><Etag>0x1</Etag>
      <Content-Length>12</Content-Length><Content-Type>text/plain</Content-Type>
      <BlobType>AppendBlob</BlobType></Properties><Metadata /></Blob>
    <BlobPrefix><Name>t1/$TaskOutput/</Name></BlobPrefix>
    <Blob><Name Encoded="true">t1%2Fodd%00name</Name><Properties><Content-Length>0</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>
  </Blobs>
  <NextMarker>abc</NextMarker>
</EnumerationResults>"#;
        let page = parse_list(xml).expect("valid XML");
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].name, "t1/$TaskLog/a & b.txt");
        assert_eq!(page.objects[0].size, 12);
        assert_eq!(page.objects[0].blob_type, Some(BlobType::Append));
        assert_eq!(page.objects[0].content_type.as_deref(), Some("text/plain"));
        assert!(page.objects[0].last_modified.is_some());
        assert_eq!(page.objects[1].name, "t1/odd\0name");
        assert_eq!(page.prefixes, ["t1/$TaskOutput/"]);
        assert_eq!(page.next_marker.as_deref(), Some("abc"));
    }

    #[test]
    fn parses_containers_with_their_metadata_and_markers() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/">
  <Prefix>job-</Prefix>
  <Containers>
    <Container><Name>job-a</Name><Properties>
      <Last-Modified>Tue, 24 Nov 2026 17:00:00 GMT</Last-Modified><Etag>0x1</Etag></Properties>
      <Metadata><jobid>nightly:job-7</jobid><other>x &amp; y</other></Metadata></Container>
    <Container><Name>job-b</Name><Properties /></Container>
    <Container><Name>$logs</Name><Properties /></Container>
  </Containers>
  <NextMarker>m2</NextMarker>
</EnumerationResults>"#;
        let page = parse_containers(xml).expect("valid XML");
        let names: Vec<&str> = page.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["job-a", "job-b"],
            "$logs is no container batchout uses"
        );
        assert_eq!(page.containers[0].metadata["jobid"], "nightly:job-7");
        assert_eq!(page.containers[0].metadata["other"], "x & y");
        assert!(page.containers[0].last_modified.is_some());
        assert!(page.containers[1].metadata.is_empty());
        assert_eq!(page.next_marker.as_deref(), Some("m2"));
    }

    #[test]
    fn an_empty_next_marker_ends_the_listing() {
        let page = parse_list("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>")
            .expect("valid");
        assert_eq!(page, ListPage::default());
    }

    #[test]
    fn parses_error_codes_and_first_message_lines() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:1</Message></Error>";
        let (code, message) = parse_error(xml);
        assert_eq!(code.as_deref(), Some("ContainerNotFound"));
        assert_eq!(
            message.as_deref(),
            Some("The specified container does not exist.")
        );
    }
}
