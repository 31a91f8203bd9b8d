//! Containers: creation and operations on one that does not exist.

use bytes::Bytes;
use futures::StreamExt;

use super::at;
use crate::{ContainerName, Error, PutSource, Store};

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
