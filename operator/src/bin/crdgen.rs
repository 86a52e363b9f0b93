//! Prints the `WhatsAppSession` CustomResourceDefinition as YAML; `crds/` holds its output
//! (`cargo run -p wagate-operator --bin crdgen > crds/whatsappsession.yaml`).

fn main() -> anyhow::Result<()> {
    print!("{}", wagate_operator::crd_yaml()?);
    Ok(())
}
