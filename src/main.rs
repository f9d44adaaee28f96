//! The `cutover` binary: the console by default, headless commands otherwise.

use clap::Parser;

use cutover::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    cutover::nodes::set_flag(cli.nodes.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            None => cutover::launch::console(cli.state_dir, cli.console).await,
            Some(Command::Console(args)) => cutover::launch::console(cli.state_dir, args).await,
            Some(Command::Demo { dir }) => cutover::launch::demo(cli.state_dir, dir).await,
            Some(command) => match cutover::cli::dispatch(cli.state_dir, command).await {
                Ok(code) => code,
                Err(cutover::error::Error::StdoutClosed) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    e.exit_code()
                }
            },
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    std::process::exit(code);
}
