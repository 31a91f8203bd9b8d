//! `batchout completions SHELL` and `batchout man`: made from the command
//! line's definition, so every command is in them, and each is checked by the
//! tool that reads it where that tool is installed (`bash -n`, `zsh -n`,
//! `fish --no-execute`, `man -l -` or `groff`). A tool that is not installed is
//! skipped, saying `SKIPPED`; nothing is installed here.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use support::Env;

/// The commands, as `batchout --help` lists them (clap's `help` aside), so
/// that a command added later is checked too.
fn commands(env: &Env) -> Vec<String> {
    let help = support::stdout(&mut env.cmd(&["--help"]));
    let listed: Vec<String> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    // The list is read right: the commands a user meets first are in it.
    for known in ["save", "ls", "get", "run", "completions", "man"] {
        assert!(
            listed.iter().any(|name| name == known),
            "{known} not found in:\n{help}"
        );
    }
    listed
}

/// Whether `tool` runs (`tool --version` succeeds).
fn found(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `tool` runs; if not, says what is skipped.
fn installed(tool: &str, skipped: &str) -> bool {
    let found = found(tool);
    if !found {
        eprintln!("SKIPPED: {tool} is not installed, so {skipped} is not checked");
    }
    found
}

/// Runs `tool ARGS` and asserts that it succeeds with nothing on stderr;
/// gives its stdout.
fn passes(tool: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{tool} {args:?} refused it ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The script for `shell`, written to a file; every command is named in it.
fn script(env: &Env, shell: &str, commands: &[String]) -> String {
    let text = support::stdout(&mut env.cmd(&["completions", shell]));
    for command in commands {
        assert!(
            text.contains(command.as_str()),
            "{shell}: {command} missing from the completions"
        );
    }
    let file = format!("batchout.{shell}");
    fs::write(env.path().join(&file), &text).expect("write the script");
    file
}

#[test]
fn bash_completions_are_valid_bash_and_complete_every_command() {
    let env = Env::new();
    let commands = commands(&env);
    let file = script(&env, "bash", &commands);
    assert!(installed("bash", "the bash script"));
    passes("bash", &["-n", &file], env.path());
    // Loaded into bash, it completes a command's name and a command's flags,
    // the global ones included.
    let complete = |words: &str| {
        let line = format!(
            "source {file}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _batchout batchout \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        passes("bash", &["-c", &line], env.path())
    };
    let offered = complete("batchout sa");
    for name in ["save", "save-text", "sas"] {
        assert!(offered.lines().any(|l| l == name), "{name}:\n{offered}");
    }
    let offered = complete("batchout ''");
    for command in &commands {
        assert!(
            offered.lines().any(|l| l == command),
            "{command}:\n{offered}"
        );
    }
    let offered = complete("batchout save --");
    for flag in ["--kind", "--pattern", "--quiet", "--json", "--store"] {
        assert!(offered.lines().any(|l| l == flag), "{flag}:\n{offered}");
    }
    let offered = complete("batchout completions ''");
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.lines().any(|l| l == shell), "{shell}:\n{offered}");
    }
}

#[test]
fn zsh_completions_parse_in_zsh() {
    let env = Env::new();
    let commands = commands(&env);
    let file = script(&env, "zsh", &commands);
    let text = fs::read_to_string(env.path().join(&file)).expect("read");
    assert!(text.starts_with("#compdef batchout"), "{text}");
    if installed("zsh", "the zsh script") {
        passes("zsh", &["-n", &file], env.path());
    }
}

#[test]
fn fish_completions_parse_in_fish() {
    let env = Env::new();
    let commands = commands(&env);
    let file = script(&env, "fish", &commands);
    let text = fs::read_to_string(env.path().join(&file)).expect("read");
    assert!(text.contains("complete -c batchout"), "{text}");
    if installed("fish", "the fish script") {
        passes("fish", &["--no-execute", &file], env.path());
    }
}

#[test]
fn elvish_and_powershell_completions_name_every_command() {
    let env = Env::new();
    let commands = commands(&env);
    script(&env, "elvish", &commands);
    script(&env, "powershell", &commands);
    env.cmd(&["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("possible values"));
}

/// The page `roff`, rendered as text by `man -l` or, without man, by groff
/// (either failing on a warning); `None` (after `SKIPPED`) when neither is
/// installed.
fn rendered(env: &Env, roff: &str) -> Option<String> {
    let page = env.path().join("page.1");
    fs::write(&page, roff).expect("write the page");
    let page = page.to_str().expect("UTF-8 path");
    // Wide, so that no name is broken across lines.
    let (tool, args): (&str, Vec<&str>) = if found("man") {
        ("man", vec!["-l", page])
    } else if found("groff") {
        // -k: through preconv, as man does, for the page's non-ASCII.
        (
            "groff",
            vec!["-k", "-man", "-Tutf8", "-ww", "-rLL=200n", page],
        )
    } else {
        eprintln!("SKIPPED: neither man nor groff is installed, so no page is rendered");
        return None;
    };
    let out = Command::new(tool)
        .args(&args)
        .env("MANWIDTH", "200")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("it runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("warning") && !stderr.contains("error"),
        "{tool} could not render it:\n{stderr}"
    );
    // man and groff embolden with overstrikes when they write to no terminal.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    Some(plain)
}

#[test]
fn the_man_page_renders_and_lists_every_command() {
    let env = Env::new();
    let commands = commands(&env);
    let roff = support::stdout(&mut env.cmd(&["man"]));
    assert!(
        roff.lines().any(|line| line.starts_with(".TH batchout 1 ")),
        "no title:\n{roff}"
    );
    for command in &commands {
        let named = format!("batchout\\-{}", command.replace('-', "\\-"));
        assert!(roff.contains(&named), "{named} missing:\n{roff}");
    }
    if let Some(text) = rendered(&env, &roff) {
        assert!(text.contains("SUBCOMMANDS"), "{text}");
        for command in &commands {
            let reference = format!("batchout-{command}(1)");
            assert!(text.contains(&reference), "{reference} missing:\n{text}");
        }
        assert!(text.contains("--quiet"), "{text}");
    }
}

#[test]
fn man_gives_one_command_s_page_or_writes_every_page_into_a_folder() {
    let env = Env::new();
    let commands = commands(&env);
    let save = support::stdout(&mut env.cmd(&["man", "save"]));
    assert!(save.contains(".TH batchout-save 1 "), "{save}");
    assert!(save.contains("\\-\\-pattern"), "{save}");
    // The global flags are on each command's page.
    assert!(save.contains("\\-\\-store"), "{save}");
    if let Some(text) = rendered(&env, &save) {
        assert!(text.contains("batchout-save"), "{text}");
    }
    env.cmd(&["man", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no command \"nope\""))
        .stderr(predicates::str::contains("save-text"));

    env.cmd(&["man", "--dir", "share/man/man1"])
        .assert()
        .success()
        .stdout(format!(
            "wrote {} man pages to share/man/man1\n",
            commands.len() + 1
        ));
    let mut expected: Vec<String> = commands
        .iter()
        .map(|command| format!("batchout-{command}.1"))
        .collect();
    expected.push("batchout.1".to_owned());
    expected.sort();
    assert_eq!(
        support::files_below(&env.path().join("share/man/man1")),
        expected
    );
    let written = fs::read_to_string(env.path().join("share/man/man1/batchout-save.1"))
        .expect("the page of save");
    assert_eq!(written, save, "the file is the page `man save` prints");
    env.cmd(&["man", "-q", "--dir", "quiet"])
        .assert()
        .success()
        .stdout("");
    env.cmd(&["man", "save", "--dir", "x"]).assert().code(2);
}

#[test]
fn completions_and_man_need_no_store() {
    let env = Env::new();
    for args in [&["completions", "bash"][..], &["man"]] {
        env.cmd_on("https://nowhere.invalid/not-a-store?bad", args)
            .assert()
            .success();
    }
    assert!(!env.store().exists(), "no store was made");
}
