//! `batchout serve`: the viewer's API on a real socket, on loopback by
//! default; beyond loopback only with a token; every request with the token
//! once one is set; stopped cleanly by SIGTERM.

mod support;

use predicates::prelude::*;
use support::Env;
use support::server::Server;

#[test]
fn serve_answers_on_loopback_and_needs_a_token_beyond_it() {
    let env = Env::new();
    env.write("out/a.txt", "42\n");
    env.cmd(&[
        "save",
        "--job",
        "nightly:job-7",
        "--task",
        "t1",
        "out/a.txt",
    ])
    .assert()
    .success();

    env.cmd(&["serve", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs a token"));
    env.cmd(&["serve", "--listen", "here"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("127.0.0.1:8080"));

    let open = Server::start(&env, None);
    let (status, body) = open.get("/api/jobs", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"job\":\"nightly:job-7\""), "{body}");
    let (status, body) = open.get(
        "/files/jobs/nightly:job-7/tasks/t1/TaskOutput/out/a.txt",
        "",
    );
    assert_eq!((status, body.as_str()), (200, "42\n"));
    open.stop();

    let guarded = Server::start(&env, Some("s3cret"));
    assert_eq!(guarded.get("/api/jobs", "").0, 401);
    let (status, _) = guarded.get("/api/jobs", "Authorization: Bearer s3cret\r\n");
    assert_eq!(status, 200);
    guarded.stop();
}
