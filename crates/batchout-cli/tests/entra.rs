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
use std::time::Duration;

use assert_cmd::Command;
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
