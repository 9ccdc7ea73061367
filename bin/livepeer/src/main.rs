//! The `livepeer` binary: parses the command line and hands over to `livepeer-node`.

fn main() -> std::process::ExitCode {
    livepeer_node::main()
}
