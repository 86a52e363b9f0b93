//! `wagate-wa-sim`: the WhatsApp simulator as a process, for manual runs and tests in other
//! processes. Point a client built with `danger-skip-cert-chain-verify` at the printed
//! WebSocket URL and drive the phone through the printed control URL (see `http` docs).

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(about = "A protocol-level WhatsApp simulator (test support)")]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "WAGATE_SIM_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Contacts to create, as `phone=Push name`.
    #[arg(long = "contact")]
    contacts: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let sim = wagate_wa_sim::Simulator::bind(cli.listen).await?;
    for contact in &cli.contacts {
        let (phone, name) = contact.split_once('=').unwrap_or((contact, contact));
        sim.add_contact(phone, name, None).await;
    }
    println!("whatsapp socket: {}", sim.ws_url());
    println!("listening on {}", sim.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
