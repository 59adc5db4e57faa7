//! `chimera keygen` driven as a real process: it writes an owner-only key and
//! a certificate that load back as an identity with the printed fingerprint,
//! and refuses to overwrite a key or to use an unsafe name.

mod common;

use chimera_runtime::identity::{Identity, PinnedPeers};
use common::cli::chimera;

#[test]
fn keygen_writes_a_loadable_identity_and_prints_its_fingerprint() {
    let dir = std::env::temp_dir().join(format!("chimera-keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = chimera()
        .args(["keygen", "--name", "server", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();

    let identity = Identity::load(&dir.join("server.crt"), &dir.join("server.key")).unwrap();
    let line = format!("SHA-256 fingerprint: {}", identity.fingerprint());
    assert!(stdout.contains(&line), "{stdout}");
    assert!(!stdout.contains("PRIVATE KEY"), "the key is never printed");
    let pins = PinnedPeers::load(&[dir.join("server.crt")]).unwrap();
    assert_eq!(pins.certs()[0].fingerprint, identity.fingerprint());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = chimera()
        .args(["keygen", "--name", "server", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists"), "{err}");

    let bad = chimera()
        .args(["keygen", "--name", "../evil", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid party name"));
    std::fs::remove_dir_all(&dir).unwrap();
}
