//! The `botify` binary: the commands are `botify_cli::run`'s.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(botify_cli::run(std::env::args_os()))
}
