//! The XML of S3's answers: ListObjectsV2, CreateMultipartUpload,
//! CompleteMultipartUpload, and errors.

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::{BlobType, ObjectMeta};

/// One page of a ListObjectsV2 answer, keys whole (the caller strips the
/// container's prefix).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ObjectPage {
    /// The objects, by key.
    pub objects: Vec<ObjectMeta>,
    /// The common prefixes (with a delimiter).
    pub prefixes: Vec<String>,
    /// The token of the next page, when the listing is truncated.
    pub next_token: Option<String>,
}

/// Parses a ListObjectsV2 answer; with `url_encoded`, keys and prefixes
/// were asked for with `encoding-type=url` and are decoded.
///
/// # Errors
///
/// A description of the XML error.
pub fn parse_list(xml: &str, url_encoded: bool) -> Result<ObjectPage, String> {
    let mut reader = Reader::from_str(xml);
    let mut page = ObjectPage::default();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<ObjectMeta> = None;
    let mut truncated = false;
    let decode = |value: String| -> Result<String, String> {
        if !url_encoded {
            return Ok(value);
        }
        // `+` is how a form encoding writes a space; S3 writes `%20`, but
        // either way it is not a literal plus (that is `%2B`).
        percent_encoding::percent_decode_str(&value.replace('+', "%20"))
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|e| format!("a key is not UTF-8 once decoded: {e}"))
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "Contents" {
                    let mut meta = ObjectMeta::new("", 0);
                    meta.blob_type = Some(BlobType::Block);
                    current = Some(meta);
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some("Contents")
                    && let Some(meta) = current.take()
                {
                    page.objects.push(meta);
                }
            }
            Event::Text(text) => {
                let value = text.unescape().map_err(|e| e.to_string())?.into_owned();
                let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
                match (parent, path.last().map(String::as_str), current.as_mut()) {
                    (Some("Contents"), Some("Key"), Some(meta)) => meta.name = decode(value)?,
                    (Some("Contents"), Some("Size"), Some(meta)) => {
                        meta.size = value
                            .trim()
                            .parse()
                            .map_err(|_| format!("a size is not a number: {value:?}"))?;
                    }
                    (Some("Contents"), Some("LastModified"), Some(meta)) => {
                        meta.last_modified = parse_time(&value);
                    }
                    (Some("Contents"), Some("ETag"), Some(meta)) => meta.etag = Some(value),
                    (Some("CommonPrefixes"), Some("Prefix"), _) => {
                        page.prefixes.push(decode(value)?);
                    }
                    (Some("ListBucketResult"), Some("IsTruncated"), _) => {
                        truncated = value.trim() == "true";
                    }
                    (Some("ListBucketResult"), Some("NextContinuationToken"), _)
                        if !value.is_empty() =>
                    {
                        page.next_token = Some(value);
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !truncated {
        page.next_token = None;
    } else if page.next_token.is_none() {
        return Err("the listing is truncated but gives no continuation token".into());
    }
    Ok(page)
}

/// The text of the element `name` anywhere in `xml`, if any.
pub fn element(xml: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) => inside = start.local_name().as_ref() == name.as_bytes(),
            Event::Text(text) if inside => return text.unescape().ok().map(|t| t.into_owned()),
            Event::End(_) => inside = false,
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The root element's name, if `xml` has one.
pub fn root(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) => {
                return Some(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// An error answer's code, message and, when the service says so, the
/// bucket's region.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `Code`, e.g. `NoSuchKey`.
    pub code: Option<String>,
    /// `Message`.
    pub message: Option<String>,
    /// `Region`: where the bucket is, in a refusal for the wrong region.
    pub region: Option<String>,
}

/// Parses an error answer (anything else gives nothing).
pub fn parse_error(xml: &str) -> ErrorBody {
    if root(xml).as_deref() != Some("Error") {
        return ErrorBody::default();
    }
    ErrorBody {
        code: element(xml, "Code"),
        message: element(xml, "Message"),
        region: element(xml, "Region"),
    }
}

/// A time of a listing: ISO 8601 in UTC, with or without fractions.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_give_objects_prefixes_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>
<Contents><Key>p/t1/%24TaskLog/a%20b%2Bc.txt</Key><LastModified>2026-12-07T04:36:39.000Z</LastModified>
<ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>p/t2/</Prefix></CommonPrefixes>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list(xml, true).expect("valid");
        assert_eq!(page.objects.len(), 1);
        let meta = &page.objects[0];
        assert_eq!(meta.name, "p/t1/$TaskLog/a b+c.txt");
        assert_eq!(meta.size, 5);
        assert_eq!(
            meta.etag.as_deref(),
            Some("\"5d41402abc4b2a76b9719d911017c592\"")
        );
        assert!(meta.last_modified.is_some());
        assert_eq!(page.prefixes, ["p/t2/"]);
        assert_eq!(
            page.next_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        let last = xml.replace("<IsTruncated>true", "<IsTruncated>false");
        assert_eq!(parse_list(&last, true).expect("valid").next_token, None);
    }

    #[test]
    fn errors_give_their_code_message_and_region() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>";
        let body = parse_error(xml);
        assert_eq!(body.code.as_deref(), Some("AuthorizationHeaderMalformed"));
        assert_eq!(body.region.as_deref(), Some("eu-west-1"));
        assert_eq!(parse_error("not xml"), ErrorBody::default());
        assert_eq!(
            element("<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>u-1</UploadId></InitiateMultipartUploadResult>", "UploadId").as_deref(),
            Some("u-1")
        );
    }
}
