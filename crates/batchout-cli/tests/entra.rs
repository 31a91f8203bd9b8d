//! Signing in with Entra ID: the `batchout` binary against an Azurite that
//! takes bearer tokens (`--oauth basic`, over HTTPS), its tokens from the
//! testkit's token service on loopback, which stands in for Entra ID's
//! v2.0 endpoint, IMDS and App Service's identity endpoint (the real ones
//! cannot be reached from a test; the storage side is real). Each source
//! saves, lists and reads; the chain takes the first source set up and
//! `-v` names it; `--auth` forces one; an IMDS with no identity says what
//! to do; a `track` outlives its tokens; and no token, client secret,
//! federated token or identity header ever shows.
//!
//! Azurite's basic OAuth mode checks a token's audience, issuer and
//! lifetime, not the identity's roles, so a 403 for want of a role cannot
//! happen here: its hint is pinned in
//! `crates/batchout-store/src/azure/errors.rs`.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use batchout::{ContainerName, JobId};
use batchout_testkit::token_service::{STORAGE_AUDIENCE, unsigned_jwt};
use batchout_testkit::{Azurite, Route, TokenService};
use support::{Env, job};

/// One Azurite taking tokens, for the whole test binary.
fn azurite() -> Option<&'static Azurite> {
    static OAUTH: OnceLock<Option<Azurite>> = OnceLock::new();
    OAUTH.get_or_init(Azurite::start_https_oauth).as_ref()
}

/// Where a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    ServicePrincipal,
    WorkloadIdentity,
    Imds,
    AppService,
    Cli,
}

/// A test's world: the Azurite, a token service of its own, a working
/// directory, and a folder first on `PATH` holding a fake `az`.
struct World {
    azurite: &'static Azurite,
    service: TokenService,
    env: Env,
    bin: PathBuf,
    /// The token the fake `az` prints.
    cli_token: String,
}

impl World {
    fn new() -> Option<Self> {
        let azurite = azurite()?;
        let env = Env::new();
        let bin = env.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let service = TokenService::start();
        let cli_token = unsigned_jwt(
            service.tenant(),
            STORAGE_AUDIENCE,
            Duration::from_secs(3600),
            u64::from(std::process::id()),
        );
        let world = Self {
            azurite,
            service,
            env,
            bin,
            cli_token,
        };
        world.fake_az(true);
        std::fs::write(
            world.env.path().join("federated-token"),
            world.service.federated_token(),
        )
        .expect("write the federated token");
        Some(world)
    }

    /// Writes the fake `az`: logged in (it prints a token, and counts its
    /// calls in `az-calls`), or not.
    fn fake_az(&self, logged_in: bool) {
        use std::os::unix::fs::PermissionsExt;
        let calls = self.env.path().join("az-calls");
        let body = if logged_in {
            format!(
                "echo \"$@\" >> '{}'\ncat <<'EOF'\n{{\"accessToken\":\"{}\",\"expiresOn\":\"2099-01-01 00:00:00.000000\",\"expires_on\":4070908800,\"subscription\":\"s\",\"tenant\":\"{}\",\"tokenType\":\"Bearer\"}}\nEOF\n",
                calls.display(),
                self.cli_token,
                self.service.tenant()
            )
        } else {
            "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".to_owned()
        };
        let path = self.bin.join("az");
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write az");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// `batchout ARGS` on the Azurite, trusting its authority, IMDS moved to
    /// the token service, the fake `az` first on `PATH`, and nothing else
    /// set up.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd_on(&self.azurite.blob_endpoint(), args);
        cmd.env(
            "SSL_CERT_FILE",
            self.azurite.authority().expect("an HTTPS Azurite"),
        )
        .env_remove("SSL_CERT_DIR")
        .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
        .env(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            self.service.imds_authority(),
        );
        cmd
    }

    /// As [`World::cmd`], with `source` set up in the environment.
    fn with(&self, source: Source, args: &[&str]) -> Command {
        let mut cmd = self.cmd(args);
        let service = &self.service;
        match source {
            Source::ServicePrincipal => {
                cmd.env("AZURE_TENANT_ID", service.tenant())
                    .env("AZURE_CLIENT_ID", service.client_id())
                    .env("AZURE_CLIENT_SECRET", service.client_secret())
                    .env("AZURE_AUTHORITY_HOST", service.authority());
            }
            Source::WorkloadIdentity => {
                cmd.env("AZURE_TENANT_ID", service.tenant())
                    .env("AZURE_CLIENT_ID", service.client_id())
                    .env(
                        "AZURE_FEDERATED_TOKEN_FILE",
                        self.env.path().join("federated-token"),
                    )
                    .env("AZURE_AUTHORITY_HOST", service.authority());
            }
            Source::AppService => {
                cmd.env("IDENTITY_ENDPOINT", service.identity_endpoint())
                    .env("IDENTITY_HEADER", service.identity_header());
            }
            Source::Imds | Source::Cli => {}
        }
        cmd
    }

    /// Every secret that must never show.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.service.secrets();
        secrets.push(self.cli_token.clone());
        secrets
    }

    fn az_calls(&self) -> usize {
        std::fs::read_to_string(self.env.path().join("az-calls"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }
}

/// Runs `cmd`, expecting success; its stdout and stderr.
fn ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.assert().success();
    let output = out.get_output();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `cmd`, expecting exit `code`; its stderr.
fn fails(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// How many requests the source's route has had (calls of `az` for the CLI).
fn asked(world: &World, source: Source) -> usize {
    match source {
        Source::ServicePrincipal | Source::WorkloadIdentity => world.service.requests(Route::V2),
        Source::Imds => world.service.requests(Route::Imds),
        Source::AppService => world.service.requests(Route::AppService),
        Source::Cli => world.az_calls(),
    }
}

#[test]
fn every_source_saves_lists_and_reads_on_an_azurite_that_takes_tokens() {
    let Some(world) = World::new() else {
        return;
    };
    world
        .env
        .write("out/result.txt", "signed in with Entra ID\n");
    for (source, auth) in [
        (Source::ServicePrincipal, "service-principal"),
        (Source::WorkloadIdentity, "workload-identity"),
        (Source::Imds, "managed-identity"),
        (Source::AppService, "managed-identity"),
        (Source::Cli, "cli"),
    ] {
        let job = job(auth);
        let before = asked(&world, source);
        ok(world
            .with(
                source,
                &["save", "--job", &job, "--task", "t1", "out/result.txt"],
            )
            .args(["--auth", auth]));
        let (listed, _) = ok(world
            .with(source, &["ls", "--job", &job, "--task", "t1"])
            .args(["--auth", auth]));
        assert!(listed.contains("out/result.txt"), "{source:?}: {listed}");
        let (got, _) = ok(world
            .with(
                source,
                &[
                    "get",
                    "--job",
                    &job,
                    "--task",
                    "t1",
                    "out/result.txt",
                    "-o",
                    "-",
                ],
            )
            .args(["--auth", auth]));
        assert_eq!(got, "signed in with Entra ID\n", "{source:?}");
        // One token per process: three commands, three tokens.
        assert_eq!(asked(&world, source) - before, 3, "{source:?}");
    }
}

#[test]
fn the_chain_takes_the_first_source_set_up_and_v_names_it() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("chain");
    world.env.write("a.txt", "a\n");
    // Each source set up together with every one after it: the first wins.
    for (source, named) in [
        (Source::ServicePrincipal, "a service principal (client "),
        (Source::WorkloadIdentity, "workload identity (client "),
        (Source::AppService, "a managed identity (IDENTITY_ENDPOINT)"),
        (Source::Imds, "a managed identity (IMDS)"),
    ] {
        let before = asked(&world, source);
        let mut cmd = world.with(source, &["save", "--job", &job, "a.txt", "-v"]);
        if source == Source::ServicePrincipal {
            // Workload identity's variables too: the service principal
            // still comes first.
            cmd.env(
                "AZURE_FEDERATED_TOKEN_FILE",
                world.env.path().join("federated-token"),
            );
        }
        let (_, stderr) = ok(cmd.env("BATCHOUT_AUTH", "token"));
        assert!(
            stderr.contains(&format!(
                "signed in to Azure Storage with Entra ID: {named}"
            )),
            "{source:?}: {stderr}"
        );
        assert_eq!(asked(&world, source) - before, 1, "{source:?}");
    }
    assert_eq!(world.az_calls(), 0, "the CLI comes last");

    // IMDS with no identity is passed over for the Azure CLI's account.
    world.service.set_imds_identity(false);
    let (_, stderr) = ok(world
        .cmd(&["save", "--job", &job, "a.txt", "-v"])
        .args(["--auth", "token"]));
    assert!(
        stderr.contains("with Entra ID: the Azure CLI's account (az login)"),
        "{stderr}"
    );
    assert_eq!(world.az_calls(), 1);

    // Nothing set up: every source says why, and what would do.
    world.fake_az(false);
    let stderr = fails(
        world.cmd(&["ls", "--job", &job]).args(["--auth", "token"]),
        1,
    );
    for needle in [
        "a service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET are not set",
        "no managed identity is assigned to this VM or Batch pool",
        "run `az login`",
        "give the store an account key or a SAS",
        "--auth chooses how to sign in",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
}

#[test]
fn imds_without_an_identity_says_so_once_and_the_client_id_chooses_one() {
    let Some(world) = World::new() else {
        return;
    };
    world.service.set_imds_identity(false);
    let job = job("imds");
    let stderr = fails(
        &mut world.cmd(&["ls", "--job", &job, "--auth", "managed-identity"]),
        1,
    );
    assert!(
        stderr.contains("no managed identity is assigned to this VM or Batch pool; assign one"),
        "{stderr}"
    );
    assert!(stderr.contains("AZURE_CLIENT_ID"), "{stderr}");
    assert!(stderr.contains("--identity-client-id"), "{stderr}");
    assert_eq!(
        world.service.requests(Route::Imds),
        1,
        "a 400 is answered once, not retried"
    );

    // A user-assigned identity, by flag, by variable, and by AZURE_CLIENT_ID.
    world.service.set_user_assigned(&["pool-identity"]);
    world.env.write("b.txt", "b\n");
    ok(&mut world.cmd(&[
        "save",
        "--job",
        &job,
        "b.txt",
        "--auth",
        "managed-identity",
        "--identity-client-id",
        "pool-identity",
    ]));
    ok(world
        .cmd(&["ls", "--job", &job])
        .env("BATCHOUT_AUTH", "managed-identity")
        .env("BATCHOUT_IDENTITY_CLIENT_ID", "pool-identity"));
    ok(world
        .cmd(&["ls", "--job", &job, "--auth", "managed-identity"])
        .env("AZURE_CLIENT_ID", "pool-identity"));
    let ids = world.service.managed_identity_client_ids();
    assert_eq!(
        ids[1..],
        [
            Some("pool-identity".to_owned()),
            Some("pool-identity".to_owned()),
            Some("pool-identity".to_owned())
        ]
    );
    let stderr = fails(
        &mut world.cmd(&[
            "ls",
            "--job",
            &job,
            "--auth",
            "managed-identity",
            "--identity-client-id",
            "someone-else",
        ]),
        1,
    );
    assert!(
        stderr.contains("no user-assigned identity with client id someone-else"),
        "{stderr}"
    );
}

#[test]
fn bad_auth_values_are_usage_errors_and_tokens_never_go_over_http() {
    let Some(world) = World::new() else {
        return;
    };
    let stderr = fails(
        &mut world.cmd(&["ls", "--job", "j", "--auth", "password"]),
        2,
    );
    assert!(
        stderr.contains("--auth: \"password\" is not valid; give key, sas, token, cli"),
        "{stderr}"
    );
    let stderr = fails(
        world.cmd(&["ls", "--job", "j"]).env("BATCHOUT_AUTH", "pw"),
        2,
    );
    assert!(stderr.contains("BATCHOUT_AUTH=\"pw\""), "{stderr}");
    let stderr = fails(
        &mut world.cmd(&["ls", "--job", "j", "--identity-client-id", "a b"]),
        2,
    );
    assert!(stderr.contains("--identity-client-id"), "{stderr}");
    // A forced source whose variables are not set says which.
    let stderr = fails(
        &mut world.cmd(&["ls", "--job", "j", "--auth", "workload-identity"]),
        1,
    );
    assert!(
        stderr.contains("AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE are not set"),
        "{stderr}"
    );
    // The plain-HTTP emulator gets no token.
    if let Some(plain) = Azurite::shared() {
        let stderr = fails(
            world
                .env
                .cmd_on(&plain.blob_endpoint(), &["ls", "--job", "j"])
                .args(["--auth", "managed-identity"]),
            1,
        );
        assert!(stderr.contains("sent over https:// only"), "{stderr}");
    }
}

/// A `track` that lasts longer than its tokens: each is refreshed at half
/// its life, so every flush is signed with a valid one, and the stored log
/// is whole.
#[test]
fn a_track_outlives_its_tokens_and_stores_the_whole_log() {
    let Some(world) = World::new() else {
        return;
    };
    // Refreshed at 3 s: three seconds of margin for a loaded machine.
    world.service.set_lifetime(Duration::from_secs(6));
    let job = job("track");
    let (_, stderr) = ok(&mut world.with(
        Source::Imds,
        &[
            "track",
            "--job",
            &job,
            "--task",
            "t",
            "--interval",
            "1s",
            "--auth",
            "managed-identity",
            "-vv",
            "log.txt",
            "--",
            "sh",
            "-c",
            "for i in $(seq 1 18); do echo \"line $i\" >> log.txt; sleep 0.5; done",
        ],
    ));
    let minted = world.service.minted().len();
    assert!(minted >= 2, "{minted} tokens for a 9 s track:\n{stderr}");
    assert!(stderr.contains("refreshed the Entra ID token"), "{stderr}");
    let (stored, _) = ok(&mut world.cmd(&[
        "get",
        "--job",
        &job,
        "--task",
        "t",
        "--kind",
        "TaskOutput",
        "log.txt",
        "-o",
        "-",
        "--auth",
        "managed-identity",
    ]));
    let expected: String = (1..=18).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stored, expected);
    assert_eq!(
        std::fs::read_to_string(world.env.path().join("log.txt")).expect("log"),
        expected
    );
}

#[test]
fn no_token_secret_header_or_federated_token_shows_in_any_output() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("secrets");
    world.env.write("out/s.txt", "s\n");
    let mut seen = String::new();
    let mut record = |cmd: &mut Command| {
        let output = cmd.output().expect("runs");
        seen.push_str(&String::from_utf8_lossy(&output.stdout));
        seen.push_str(&String::from_utf8_lossy(&output.stderr));
    };
    for (source, auth) in [
        (Source::ServicePrincipal, "service-principal"),
        (Source::WorkloadIdentity, "workload-identity"),
        (Source::AppService, "managed-identity"),
        (Source::Imds, "managed-identity"),
        (Source::Cli, "cli"),
        (Source::ServicePrincipal, "token"),
    ] {
        for args in [
            &["save", "--job", &job, "--task", "t", "out/s.txt"][..],
            &["ls", "--job", &job, "--task", "t"],
            &["get", "--job", &job, "--task", "t", "out/s.txt", "-o", "-"],
            &["jobs"],
        ] {
            for json in [false, true] {
                let mut cmd = world.with(source, args);
                cmd.args(["--auth", auth, "-vv"]);
                if json {
                    cmd.arg("--json");
                }
                record(&mut cmd);
                record(
                    world
                        .with(source, args)
                        .args(["--auth", auth])
                        .env("BATCHOUT_LOG", "trace"),
                );
            }
        }
    }
    // Failures too: a refused secret, a refused federated token, a wrong
    // identity header, a token refused by the service (expired at once).
    record(
        world
            .with(Source::ServicePrincipal, &["ls", "--job", &job, "-vv"])
            .args(["--auth", "service-principal"])
            .env("AZURE_CLIENT_SECRET", "wrong-secret-value"),
    );
    std::fs::write(world.env.path().join("stale"), "stale-federated-token").expect("write");
    record(
        world
            .with(Source::WorkloadIdentity, &["ls", "--job", &job, "-vv"])
            .args(["--auth", "workload-identity"])
            .env("AZURE_FEDERATED_TOKEN_FILE", world.env.path().join("stale")),
    );
    record(
        world
            .with(Source::AppService, &["ls", "--job", &job, "-vv", "--json"])
            .args(["--auth", "managed-identity"])
            .env("IDENTITY_HEADER", "wrong-identity-header"),
    );
    world.service.set_lifetime(Duration::ZERO);
    let expired = fails(
        world
            .with(Source::Imds, &["ls", "--job", &job, "-vv"])
            .args(["--auth", "managed-identity"]),
        1,
    );
    assert!(
        expired.contains("(AuthenticationFailed)") && expired.contains("was refused"),
        "Azurite checks the token:\n{expired}"
    );
    seen.push_str(&expired);
    assert!(seen.contains("out/s.txt"), "the commands ran:\n{seen}");
    assert!(seen.contains("AADSTS7000215"), "the failures ran:\n{seen}");
    for secret in world.secrets().into_iter().chain(
        [
            "wrong-secret-value",
            "stale-federated-token",
            "wrong-identity-header",
        ]
        .map(String::from),
    ) {
        assert!(!seen.contains(&secret), "{secret} shows in:\n{seen}");
    }
    // Not even a part of a token: its payload is base64 of JSON claims.
    for token in world.service.minted() {
        let payload = token.split('.').nth(1).expect("a JWT");
        assert!(!seen.contains(payload), "a token's claims show:\n{seen}");
    }
}

/// The fields of a SAS URL's query, decoded.
fn sas_fields(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').expect("a SAS URL").1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

/// A query value, percent-decoded (the SAS fields hold `%3A` and `%2F`,
/// `%2B`, `%3D`).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// A time of a SAS field.
fn sas_time(fields: &std::collections::HashMap<String, String>, name: &str) -> SystemTime {
    humantime::parse_rfc3339(&fields[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

impl World {
    /// `batchout ARGS` as a task holding nothing but `url` (as
    /// `BATCHOUT_STORE`): no token variable, no `az`, no IMDS, only the
    /// Azurite's authority trusted.
    fn task(&self, url: &str, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd_on(url, args);
        cmd.env(
            "SSL_CERT_FILE",
            self.azurite.authority().expect("an HTTPS Azurite"),
        )
        .env_remove("SSL_CERT_DIR")
        .env("PATH", "/usr/bin:/bin");
        cmd
    }

    /// Every request the token service has had.
    fn token_requests(&self) -> usize {
        [Route::Imds, Route::AppService, Route::V2]
            .into_iter()
            .map(|route| self.service.requests(route))
            .sum::<usize>()
            + self.az_calls()
    }
}

/// Step 2 of Entra ID: `sas` signed in with a token asks the service for a
/// user delegation key and signs a user delegation SAS with it, which
/// Azurite checks as the service does; a task holding that URL alone saves,
/// appends, lists and reads, and asks no token of anyone.
#[test]
fn sas_with_a_token_makes_a_user_delegation_sas_that_a_task_saves_and_lists_with() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("udsas");
    let auth = ["--auth", "managed-identity"];
    ok(world
        .with(Source::Imds, &["prepare", "--job", &job])
        .args(auth));
    let (printed, stderr) = ok(world.with(Source::Imds, &["sas", "--job", &job]).args(auth));
    assert!(
        !stderr.contains("warning"),
        "7 days is not capped: {stderr}"
    );
    let url = printed.trim();
    let fields = sas_fields(url);
    assert_eq!(fields["sv"], "2021-12-02");
    assert_eq!(fields["sr"], "c");
    assert_eq!(fields["sp"], "racwl");
    // The identity of the token (its oid and tid claims), and the key's
    // time and version, as the service gave them.
    assert_eq!(fields["skoid"], "00000000-0000-4000-8000-0000000000aa");
    assert_eq!(fields["sktid"], world.service.tenant());
    assert_eq!(fields["sks"], "b");
    assert!(!fields["skv"].is_empty(), "{url}");
    assert_eq!(fields["skt"], fields["st"], "the key starts with the SAS");
    assert_eq!(fields["ske"], fields["se"], "the key expires with the SAS");
    assert!(fields.contains_key("sig"), "{url}");
    assert!(url.contains(&format!(
        "/{}?",
        ContainerName::for_job(&JobId::new(&job).expect("valid"))
    )));

    // A task with the URL alone.
    let before = world.token_requests();
    world
        .env
        .write("out/result.txt", "saved with a user delegation SAS\n");
    ok(&mut world.task(
        url,
        &["save", "--job", &job, "--task", "t1", "out/result.txt"],
    ));
    ok(&mut world.task(
        url,
        &[
            "track",
            "--job",
            &job,
            "--task",
            "t1",
            "--interval",
            "1s",
            "log.txt",
            "--",
            "sh",
            "-c",
            "echo one >> log.txt; sleep 1.2; echo two >> log.txt",
        ],
    ));
    let (listed, _) = ok(&mut world.task(url, &["ls", "--job", &job, "--task", "t1"]));
    assert!(listed.contains("out/result.txt"), "{listed}");
    assert!(listed.contains("log.txt"), "{listed}");
    let (got, _) = ok(&mut world.task(
        url,
        &[
            "get",
            "--job",
            &job,
            "--task",
            "t1",
            "out/result.txt",
            "-o",
            "-",
        ],
    ));
    assert_eq!(got, "saved with a user delegation SAS\n");
    assert_eq!(
        world.token_requests(),
        before,
        "the task asked for no token"
    );

    // output-files signs its container URL the same way: write only.
    let (made, _) = ok(world
        .with(
            Source::Imds,
            &[
                "output-files",
                "--job",
                &job,
                "--task",
                "t2",
                "--rule",
                "out/*",
            ],
        )
        .args(auth));
    let made: serde_json::Value = serde_json::from_str(&made).expect("JSON");
    let service_url = made[0]["destination"]["container"]["containerUrl"]
        .as_str()
        .expect("a container URL");
    let service = sas_fields(service_url);
    assert_eq!(service["sp"], "w", "{service_url}");
    assert_eq!(service["skoid"], fields["skoid"], "{service_url}");

    // The client, signed in, sees what the task saved.
    let (got, _) = ok(world
        .with(
            Source::Imds,
            &[
                "get",
                "--job",
                &job,
                "--task",
                "t1",
                "--kind",
                "TaskOutput",
                "log.txt",
                "-o",
                "-",
            ],
        )
        .args(auth));
    assert_eq!(got, "one\ntwo\n");

    // A SAS that is not the one signed is refused: Azurite checks the
    // signature against the key it derives again.
    let forged = url.replace(
        &format!("skoid={}", fields["skoid"]),
        "skoid=00000000-0000-4000-8000-0000000000bb",
    );
    let stderr = fails(
        &mut world.task(&forged, &["ls", "--job", &job, "--task", "t1"]),
        1,
    );
    assert!(
        stderr.contains("(AuthorizationFailure): the SAS signature was refused"),
        "{stderr}"
    );
}

/// `sas --check` with a token: the user delegation SAS saves, appends,
/// reads and lists its probes, and the probes it may not delete (no `d`)
/// are removed with the token.
#[test]
fn sas_check_with_a_token_passes_and_the_token_removes_the_probes() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("udcheck");
    let auth = ["--auth", "service-principal"];
    ok(world
        .with(Source::ServicePrincipal, &["prepare", "--job", &job])
        .args(auth));
    let (stdout, stderr) = ok(world
        .with(
            Source::ServicePrincipal,
            &[
                "sas",
                "--job",
                &job,
                "--check",
                "--json",
                "--max-task-time",
                "2d",
            ],
        )
        .args(auth));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let check = &json["check"];
    assert_eq!(check["passed"], true, "{stderr}\n{check}");
    for step in check["steps"].as_array().expect("steps") {
        let expected = if step["step"] == "delete" {
            "warning"
        } else {
            "passed"
        };
        assert_eq!(step["status"], expected, "{step}");
    }
    let delete = check["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "delete")
        .expect("delete");
    let detail = delete["detail"].as_str().expect("detail");
    assert!(detail.contains("(Entra ID) instead"), "{detail}");
    assert_eq!(check["left_behind"], serde_json::json!([]));
    assert!(stderr.contains("passed"), "{stderr}");
    // Nothing stays in the container.
    let (listed, _) = ok(world
        .with(Source::ServicePrincipal, &["ls", "--job", &job, "--json"])
        .args(auth));
    assert!(!listed.contains(".batchout-check"), "{listed}");

    // And checked with the URL alone, as a task would.
    let url = json["url"].as_str().expect("url");
    let ran = world
        .task(url, &["sas", "--check-url", "-", "--job", &job])
        .write_stdin(format!("{url}\n"))
        .output()
        .expect("runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(ran.status.code(), Some(0), "{all}");
    assert!(all.contains("passed, with the warnings above"), "{all}");
}

/// A user delegation SAS lasts 7 days at most from its key's start (set 5
/// minutes back): a longer `--expiry` is capped, with a warning that says
/// so; `7d`, the default, loses those 5 minutes without a word.
#[test]
fn a_user_delegation_sas_is_capped_at_seven_days_with_a_warning() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("udcap");
    let auth = ["--auth", "managed-identity"];
    ok(world
        .with(Source::Imds, &["prepare", "--job", &job])
        .args(auth));
    let day = Duration::from_secs(24 * 3600);
    let minute = Duration::from_secs(60);
    let near = |time: SystemTime, expected: SystemTime| {
        let apart = time
            .duration_since(expected)
            .unwrap_or_else(|e| e.duration());
        apart < 2 * minute
    };
    for (expiry, capped, lasts) in [
        ("30d", true, 7 * day - 5 * minute),
        ("8d", true, 7 * day - 5 * minute),
        ("7d", false, 7 * day - 5 * minute),
        ("2h", false, Duration::from_secs(2 * 3600)),
    ] {
        let asked_at = SystemTime::now();
        let (stdout, stderr) = ok(world
            .with(
                Source::Imds,
                &["sas", "--job", &job, "--expiry", expiry, "--json"],
            )
            .args(auth));
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        let fields = sas_fields(json["url"].as_str().expect("url"));
        let se = sas_time(&fields, "se");
        assert!(near(se, asked_at + lasts), "{expiry}: se {}", fields["se"]);
        assert_eq!(fields["ske"], fields["se"], "{expiry}");
        assert_eq!(
            json["expiry"], fields["se"],
            "{expiry}: the JSON tells the real expiry"
        );
        if capped {
            assert!(
                stderr.contains(&format!(
                    "warning: the URL expires at {}, not at",
                    fields["se"]
                )) && stderr.contains("lasts at most 7 days"),
                "{expiry}: {stderr}"
            );
        } else {
            assert!(!stderr.contains("warning"), "{expiry}: {stderr}");
        }
    }
    // What a task may run against the real expiry, not the one asked.
    let (_, stderr) = ok(world
        .with(
            Source::Imds,
            &[
                "sas",
                "--job",
                &job,
                "--expiry",
                "30d",
                "--max-task-time",
                "10d",
            ],
        )
        .args(auth));
    assert!(
        stderr.contains("sooner than a task may run (10days)"),
        "{stderr}"
    );
    // The account key is not capped.
    let env = &world.env;
    let keyed = world.azurite.connection_string();
    let mut cmd = env.cmd_on(&keyed, &["sas", "--job", &job, "--expiry", "30d", "--json"]);
    cmd.env("SSL_CERT_FILE", world.azurite.authority().expect("https"));
    let (stdout, stderr) = ok(&mut cmd);
    assert!(!stderr.contains("warning"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let fields = sas_fields(json["url"].as_str().expect("url"));
    assert!(!fields.contains_key("skoid"), "a service SAS");
    assert!(near(sas_time(&fields, "se"), SystemTime::now() + 30 * day));
}

/// No token, no secret, no delegation key and no signature shows in what
/// `sas`, `sas --check` and a task with the URL print, however verbose;
/// the signature shows only in the URL printed as asked.
#[test]
fn no_token_delegation_key_or_signature_shows_but_in_the_url_printed() {
    let Some(world) = World::new() else {
        return;
    };
    let job = job("udsecrets");
    world.env.write("s.txt", "s\n");
    let mut seen = Seen::default();
    for (source, auth) in [
        (Source::ServicePrincipal, "service-principal"),
        (Source::WorkloadIdentity, "workload-identity"),
        (Source::AppService, "managed-identity"),
        (Source::Cli, "cli"),
    ] {
        let auth = ["--auth", auth];
        seen.record(
            world
                .with(source, &["prepare", "--job", &job, "-vv"])
                .args(auth),
            false,
        );
        for extra in [&["-vv"][..], &["-vv", "--json"], &["--expiry", "30d"]] {
            seen.record(
                world
                    .with(source, &["sas", "--job", &job])
                    .args(auth)
                    .args(extra),
                true,
            );
            seen.record(
                world
                    .with(source, &["sas", "--job", &job, "--check"])
                    .args(auth)
                    .args(extra)
                    .env("BATCHOUT_LOG", "trace"),
                true,
            );
        }
    }
    // A task with each URL, as verbose as can be.
    for url in seen.urls.clone() {
        seen.record(
            &mut world.task(
                &url,
                &["save", "--job", &job, "--task", "t", "s.txt", "-vv"],
            ),
            false,
        );
        seen.record(
            world
                .task(&url, &["ls", "--job", &job, "--task", "t", "--json"])
                .env("BATCHOUT_LOG", "trace"),
            false,
        );
    }
    let Seen { text: seen, urls } = seen;
    assert!(seen.contains("passed"), "the checks ran:\n{seen}");
    assert!(seen.contains("s.txt"), "the tasks ran:\n{seen}");
    for secret in world.secrets() {
        assert!(!seen.contains(&secret), "{secret} shows in:\n{seen}");
    }
    for token in world.service.minted() {
        let payload = token.split('.').nth(1).expect("a JWT");
        assert!(!seen.contains(payload), "a token's claims show:\n{seen}");
    }
    assert!(urls.len() >= 24, "{} URLs", urls.len());
    for url in &urls {
        let fields = sas_fields(url);
        let key = Azurite::user_delegation_key(
            &fields["skoid"],
            &fields["sktid"],
            &fields["skt"],
            &fields["ske"],
            &fields["skv"],
        );
        assert!(!seen.contains(&key), "the delegation key shows in:\n{seen}");
        let encoded = url.split("sig=").nth(1).expect("signed");
        for signature in [encoded.to_owned(), fields["sig"].clone()] {
            assert!(!seen.contains(&signature), "a signature shows in:\n{seen}");
        }
    }
}

/// What commands printed, the URLs they were asked for taken out.
#[derive(Default)]
struct Seen {
    text: String,
    urls: Vec<String>,
}

impl Seen {
    /// Runs `cmd`, expecting success, and keeps what it printed; with
    /// `printed_url`, the one SAS URL it printed as asked (a line, or in
    /// the JSON) is taken out and kept aside.
    fn record(&mut self, cmd: &mut Command, printed_url: bool) {
        let output = cmd.output().expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if printed_url {
            let url = stdout
                .split(|c: char| c.is_whitespace() || c == '"')
                .find(|word| word.contains("sig="))
                .expect("the URL")
                .to_owned();
            assert_eq!(stdout.matches(&url).count(), 1, "{stdout}");
            stdout = stdout.replace(&url, "");
            self.urls.push(url);
        }
        self.text.push_str(&stdout);
        self.text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
}
