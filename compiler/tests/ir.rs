//! IR snapshots: the graph of netD and of the residual block after the
//! passes (before protocol assignment), and after the default assignment,
//! as the verifier sees them. An unintended change in lowering or in a pass
//! shows up here as a readable diff.

use chimera_compiler::passes::protocol::{apply, DefaultAssigner, ProtocolAssigner};

fn dump(file: &str) -> String {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read(&path).expect("example");
    let fe = chimera_compiler::front_end(&source).expect("valid");
    let mut g = fe.graph;
    let before = g.dump();
    let assignment = DefaultAssigner.assign(&g);
    let mut notes = Vec::new();
    apply(
        &mut g,
        &assignment,
        DefaultAssigner.optimized_for(),
        &mut notes,
    );
    chimera_compiler::passes::check(&g, "protocol", true).expect("verifies");
    format!(
        "# after the passes\n{before}\n# after protocol assignment\n{}",
        g.dump()
    )
}

#[test]
fn net_d_ir() {
    insta::assert_snapshot!(dump("netD_chameleon.nn"));
}

#[test]
fn resnet_block_ir() {
    insta::assert_snapshot!(dump("resnet_block.nn"));
}
