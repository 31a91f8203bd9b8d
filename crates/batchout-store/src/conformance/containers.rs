//! Containers: creation and operations on one that does not exist.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::at;
use crate::{ContainerMetadata, ContainerName, Error, PutSource, Store};

/// Creating a container that exists reports `false`, as often as asked.
pub async fn create_container_is_idempotent(store: &dyn Store, container: &ContainerName) {
    for _ in 0..2 {
        let created = store
            .create_container(container)
            .await
            .expect("create again");
        assert!(!created, "{store}: {container} already existed");
    }
}

/// Every operation on a container that does not exist is
/// [`Error::ContainerNotFound`], and creates nothing.
pub async fn missing_container_is_reported(store: &dyn Store, container: &ContainerName) {
    let mut name = container.as_str().chars().take(50).collect::<String>();
    name = format!("{}-absent", name.trim_end_matches('-'));
    let absent = ContainerName::parse(&name).expect("a valid container name");
    let location = at(&absent, "t1/x.txt");
    let mut errors = vec![
        (
            "put",
            store
                .put(&location, PutSource::from("x"), &Default::default())
                .await
                .map(drop),
        ),
        ("get", store.get(&location, None).await.map(drop)),
        ("head", store.head(&location).await.map(drop)),
        ("delete", store.delete(&location).await),
        (
            "list by delimiter",
            store.list_with_delimiter(&absent, "").await.map(drop),
        ),
    ];
    let listed = store.list(&absent, "").next().await;
    errors.push(("list", listed.expect("list says why it is empty").map(drop)));
    if store.capabilities().append {
        errors.push((
            "append",
            store
                .append(&location, Bytes::from_static(b"x"), 0)
                .await
                .map(drop),
        ));
    }
    if store.capabilities().bound_container.is_some() {
        // A store bound to one container cannot even look at another.
        for (operation, result) in errors {
            let err = result.expect_err(operation);
            assert!(
                matches!(err, Error::WrongContainer { .. }),
                "{operation}: {err:?}"
            );
        }
        return;
    }
    for (operation, result) in errors {
        let err = result.expect_err(operation);
        assert!(
            matches!(err, Error::ContainerNotFound { .. }),
            "{operation}: {err:?}"
        );
        assert!(err.is_not_found(), "{operation}: {err:?}");
    }
    let created = store
        .create_container(&absent)
        .await
        .expect("create it now");
    assert!(created, "{store}: nothing may have created {absent}");
}

/// Metadata recorded on a container comes back with it from
/// [`Store::list_containers`], and recording more keeps what was there; a
/// store bound to one container lists that one alone.
pub async fn containers_are_listed_with_their_metadata(
    store: &dyn Store,
    container: &ContainerName,
) {
    let metadata = |pairs: &[(&str, &str)]| -> ContainerMetadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let created = store
        .create_container_with(container, &metadata(&[("jobid", "nightly:job-7")]))
        .await
        .expect("record metadata on the container");
    assert!(!created, "{store}: {container} existed");
    store
        .create_container_with(container, &metadata(&[("owner", "render_team")]))
        .await
        .expect("record more");
    let listed: Vec<_> = store
        .list_containers()
        .try_collect()
        .await
        .unwrap_or_else(|err| panic!("{store}: list containers: {err}"));
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "{store}: in name order");
    let this = listed
        .iter()
        .find(|c| &c.name == container)
        .unwrap_or_else(|| panic!("{store}: {container} is listed among {names:?}"));
    if store.capabilities().bound_container.is_some() {
        assert_eq!(listed.len(), 1, "{store}: a bound store sees one container");
    }
    if store.capabilities().container_metadata {
        assert_eq!(
            this.metadata,
            metadata(&[("jobid", "nightly:job-7"), ("owner", "render_team")]),
            "{store}"
        );
    }
    for bad in [("job-id", "x"), ("jobid", "two\nlines")] {
        let err = store
            .create_container_with(container, &metadata(&[bad]))
            .await
            .expect_err("metadata no backend can hold");
        assert!(
            matches!(err, Error::InvalidMetadata { .. }),
            "{store}: {bad:?}: {err:?}"
        );
    }
}
