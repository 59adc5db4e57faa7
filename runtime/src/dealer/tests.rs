use super::*;
use crate::arith::linear::{Conv2dShape, LinearShape};
use crate::prg::Seed;

const PLAN: PlanHash = PlanHash([7u8; 32]);
const SESSION: SessionId = SessionId([9u8; 16]);

fn bit(v: &[u64], i: usize) -> u64 {
    (v[i / 64] >> (i % 64)) & 1
}

fn dense() -> LinearShape {
    LinearShape::Dense {
        inputs: 13,
        outputs: 5,
    }
}

fn conv() -> LinearShape {
    LinearShape::Conv2d(Conv2dShape {
        input: [2, 6, 6],
        out_channels: 3,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
    })
}

/// A 1×1 convolution of 2^32 channels over a 2^32×2^32 image, far beyond what a dealer deals: refused in a demand and in a material header.
fn too_large_conv() -> LinearShape {
    LinearShape::Conv2d(Conv2dShape {
        input: [1, 1 << 32, 1 << 32],
        out_channels: 1 << 32,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
    })
}

fn full_demand() -> Demand {
    let mut d = Demand::new();
    d.beaver(300)
        .square_pairs(33)
        .and_triples(40)
        .shared_bits(200)
        .edabits(70)
        .random_ots(150)
        .trunc_pairs(90, 16)
        .trunc_pairs(10, 12)
        .linear(1, dense(), 6)
        .linear(2, conv(), 3);
    d
}

fn pair() -> (PartyMaterial, PartyMaterial) {
    TrustedDealer::pair(PLAN, SESSION, Some(Seed::from_u64(1)), &full_demand()).unwrap()
}

#[test]
fn every_pool_reconstructs_to_its_relation() {
    let (mut m0, mut m1) = pair();
    // Drawn in uneven chunks to check that chunking does not matter.
    for n in [1usize, 100, 199] {
        let (t0, t1) = (m0.beaver(n).unwrap(), m1.beaver(n).unwrap());
        for i in 0..n {
            let a = t0.a[i].wrapping_add(t1.a[i]);
            let b = t0.b[i].wrapping_add(t1.b[i]);
            assert_eq!(t0.c[i].wrapping_add(t1.c[i]), a.wrapping_mul(b));
        }
    }
    for n in [32usize, 1] {
        let (p0, p1) = (m0.square_pairs(n).unwrap(), m1.square_pairs(n).unwrap());
        for i in 0..n {
            let a = p0.a[i].wrapping_add(p1.a[i]);
            assert_eq!(p0.c[i].wrapping_add(p1.c[i]), a.wrapping_mul(a));
        }
    }
    for n in [3usize, 37] {
        let (t0, t1) = (m0.and_triples(n).unwrap(), m1.and_triples(n).unwrap());
        for i in 0..n {
            assert_eq!(t0.c[i] ^ t1.c[i], (t0.a[i] ^ t1.a[i]) & (t0.b[i] ^ t1.b[i]));
        }
    }
    let mut ones = 0;
    for n in [70usize, 64, 66] {
        let (b0, b1) = (m0.shared_bits(n).unwrap(), m1.shared_bits(n).unwrap());
        assert_eq!(b0.bool.len(), n.div_ceil(64));
        for i in 0..n {
            let r = bit(&b0.bool, i) ^ bit(&b1.bool, i);
            assert_eq!(b0.arith[i].wrapping_add(b1.arith[i]), r);
            ones += r;
        }
    }
    assert!(ones > 50 && ones < 150, "{ones} ones in 200 random bits");
    let (e0, e1) = (m0.edabits(70).unwrap(), m1.edabits(70).unwrap());
    for i in 0..70 {
        assert_eq!(
            e0.arith[i].wrapping_add(e1.arith[i]),
            e0.bits[i] ^ e1.bits[i]
        );
    }
    match (m0.random_ots(150).unwrap(), m1.random_ots(150).unwrap()) {
        (RandomOts::Sender { msgs }, RandomOts::Receiver { choices, msgs: got }) => {
            for i in 0..150 {
                assert_eq!(got[i], msgs[i][bit(&choices, i) as usize]);
                assert_ne!(msgs[i][0], msgs[i][1]);
            }
        }
        _ => panic!("server must be the OT sender"),
    }
    for (n, bits) in [(90usize, 16u32), (10, 12)] {
        let (p0, p1) = (
            m0.trunc_pairs(n, bits).unwrap(),
            m1.trunc_pairs(n, bits).unwrap(),
        );
        for i in 0..n {
            let r = p0.r[i].wrapping_add(p1.r[i]);
            assert_eq!(p0.r_msb[i].wrapping_add(p1.r_msb[i]), r >> 63);
            assert_eq!(
                p0.r_low_shifted[i].wrapping_add(p1.r_low_shifted[i]),
                (r & (u64::MAX >> 1)) >> bits
            );
        }
    }
    for (layer, shape, rows) in [(1u32, dense(), 6usize), (2, conv(), 3)] {
        let u = m0.weight_mask(layer, &shape).unwrap();
        let (x0, x1) = (
            m0.matrix_triples(layer, &shape, rows).unwrap(),
            m1.matrix_triples(layer, &shape, rows).unwrap(),
        );
        assert!(x0.v.is_empty());
        let uv = shape.apply(&u, &x1.v).unwrap();
        let z: Vec<u64> =
            x0.z.iter()
                .zip(&x1.z)
                .map(|(a, b)| a.wrapping_add(*b))
                .collect();
        assert_eq!(z, uv);
    }
    assert!(m0.remaining().iter().all(|(_, n)| *n == 0));
    // The client's inventory lists the weight masks (which only the server draws).
    for (pool, n) in m1.remaining() {
        assert_eq!(
            n,
            u64::from(matches!(pool, Pool::WeightMask { .. })),
            "{pool:?}"
        );
    }
}

#[test]
fn material_is_handed_out_once() {
    let (mut m0, _) = pair();
    m0.beaver(300).unwrap();
    let err = m0.beaver(1).unwrap_err();
    assert!(matches!(
        err,
        DealerError::Exhausted {
            requested: 1,
            remaining: 0,
            dealt: 300,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "dealer material exhausted: requested 1 Beaver triples, 0 left of 300 dealt"
    );
    let err = m0.trunc_pairs(11, 12).unwrap_err();
    assert!(
        matches!(err, DealerError::Exhausted { remaining: 10, .. }),
        "{err}"
    );
    // A shift that was never dealt.
    assert!(matches!(
        m0.trunc_pairs(1, 13),
        Err(DealerError::Exhausted { dealt: 0, .. })
    ));
    m0.weight_mask(1, &dense()).unwrap();
    assert!(matches!(
        m0.weight_mask(1, &dense()),
        Err(DealerError::Exhausted { .. })
    ));
}

#[test]
fn client_has_no_weight_mask() {
    let (_, mut m1) = pair();
    let err = m1.weight_mask(1, &dense()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the client has no weight masks of layer 1 material"
    );
}

#[test]
fn foreign_material_is_refused() {
    let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(2))).unwrap();
    let (b0, _) = dealer.deal(&full_demand()).unwrap();
    let other = SessionId([1u8; 16]);
    let err = PartyMaterial::open(b0, PLAN, other).unwrap_err();
    assert!(matches!(err, DealerError::Foreign { .. }));
    assert!(
        err.to_string().starts_with("foreign dealer material"),
        "{err}"
    );
    let (m0, _) = pair();
    assert!(matches!(
        m0.check_binding(PlanHash([0; 32]), SESSION),
        Err(DealerError::Foreign { .. })
    ));
    assert!(m0.check_binding(PLAN, SESSION).is_ok());
}

#[test]
fn seeded_dealing_is_deterministic_and_os_dealing_is_not() {
    let deal = |seed: Option<Seed>| {
        let (mut m0, _) = TrustedDealer::pair(PLAN, SESSION, seed, &full_demand()).unwrap();
        m0.beaver(5).unwrap().a
    };
    assert_eq!(deal(Some(Seed::from_u64(3))), deal(Some(Seed::from_u64(3))));
    assert_ne!(deal(None), deal(None));
}

#[test]
fn only_the_client_gets_explicit_words() {
    let demand = full_demand();
    let (b0, b1) = TrustedDealer::new(PLAN, SESSION, None)
        .unwrap()
        .deal(&demand)
        .unwrap();
    assert_eq!(b0.explicit_words(), 0);
    assert_eq!(b1.explicit_words() as u64, demand.explicit_words());
    // 300 + 33 + 40 + 200 + 70 + 2*150 + 2*100 + 6*5 + 3*(3*3*3) words
    assert_eq!(
        demand.explicit_words(),
        300 + 33 + 40 + 200 + 70 + 300 + 200 + 30 + 81
    );
}

#[test]
fn bundles_survive_serialization_and_refuse_damage() {
    let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(4))).unwrap();
    let (b0, b1) = dealer.deal(&full_demand()).unwrap();
    for b in [b0, b1] {
        let bytes = b.to_bytes().unwrap();
        let back = MaterialBundle::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        let err = MaterialBundle::from_bytes(&flipped).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        let err = MaterialBundle::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(MaterialBundle::from_bytes(b"short").is_err());
        assert!(MaterialBundle::from_bytes(&[0u8; 100])
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
    }
}

#[test]
fn material_files_round_trip() {
    let dir = std::env::temp_dir().join(format!("chimera-dealer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(5))).unwrap();
    let (b0, b1) = dealer.deal(&full_demand()).unwrap();
    b0.write_file(&dir.join("server.bin")).unwrap();
    b1.write_file(&dir.join("client.bin")).unwrap();
    let mut m0 = PartyMaterial::open(
        MaterialBundle::read_file(&dir.join("server.bin")).unwrap(),
        PLAN,
        SESSION,
    )
    .unwrap();
    let mut m1 = PartyMaterial::open(
        MaterialBundle::read_file(&dir.join("client.bin")).unwrap(),
        PLAN,
        SESSION,
    )
    .unwrap();
    let (t0, t1) = (m0.beaver(300).unwrap(), m1.beaver(300).unwrap());
    for i in 0..300 {
        let a = t0.a[i].wrapping_add(t1.a[i]);
        let b = t0.b[i].wrapping_add(t1.b[i]);
        assert_eq!(t0.c[i].wrapping_add(t1.c[i]), a.wrapping_mul(b));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("client.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secrets_are_not_printed() {
    let (mut m0, _) = pair();
    let t = m0.beaver(2).unwrap();
    assert_eq!(format!("{t:?}"), "BeaverTriples(<secret shares>)");
    let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(6))).unwrap();
    let (b0, _) = dealer.deal(&full_demand()).unwrap();
    let shown = format!("{b0:?}");
    assert!(!shown.contains("seed"), "{shown}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Any damage to a material file is refused with an error, never a
        /// panic or a silently different bundle.
        #[test]
        fn damaged_files_are_refused(at in any::<proptest::sample::Index>(), xor in 1u8..=255, cut in any::<proptest::sample::Index>()) {
            let mut d = Demand::new();
            d.beaver(5).random_ots(3).linear(0, dense(), 1);
            let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(11))).unwrap();
            let (_, b1) = dealer.deal(&d).unwrap();
            let bytes = b1.to_bytes().unwrap();
            let mut flipped = bytes.clone();
            flipped[at.index(bytes.len())] ^= xor;
            prop_assert!(MaterialBundle::from_bytes(&flipped).is_err());
            prop_assert!(MaterialBundle::from_bytes(&bytes[..cut.index(bytes.len())]).is_err());
        }

        /// Random bytes, even with a valid checksum, never panic the reader.
        #[test]
        fn random_bodies_with_valid_checksums_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = b"CHIMERA-MATERIAL".to_vec();
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&body);
            let mut h = blake3::Hasher::new_derive_key("chimera 2026 material file checksum v1");
            h.update(&bytes);
            let sum = *h.finalize().as_bytes();
            bytes.extend_from_slice(&sum);
            let _ = MaterialBundle::from_bytes(&bytes);
        }
    }
}

#[test]
fn sessions_and_parties_get_unrelated_streams() {
    let mut d = Demand::new();
    d.beaver(4);
    let master = Seed::from_u64(12);
    let draw = |session: SessionId| {
        let (mut m0, mut m1) =
            TrustedDealer::pair(PLAN, session, Some(master.clone()), &d).unwrap();
        (m0.beaver(4).unwrap().a, m1.beaver(4).unwrap().a)
    };
    let (a0, a1) = draw(SESSION);
    let (b0, _) = draw(SessionId([10; 16]));
    assert_ne!(a0, b0, "another session must not reuse a single share");
    assert_ne!(a0, a1, "the parties' streams must differ");
    assert_eq!(
        draw(SESSION).0,
        a0,
        "the same seed and session deal the same material"
    );
}

/// Found by the `material_bundle` fuzz target: postcard decodes the overlong
/// varint `0x81 0x00` as 1, so a bundle had a second encoding (with a valid
/// checksum) that did not re-encode to itself. Non-canonical headers are
/// now refused.
#[test]
fn material_header_with_an_overlong_varint_is_refused() {
    let dealer = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(5))).unwrap();
    let mut demand = Demand::new();
    demand.beaver(1);
    let (_, b1) = dealer.deal(&demand).unwrap();
    let bytes = b1.to_bytes().unwrap();
    let head_len = u32::from_le_bytes(bytes[20..24].try_into().unwrap()) as usize;
    let head = &bytes[24..24 + head_len];
    // The header ends with the explicit lengths: a one-element vec holding
    // the client's word count, a one-byte varint; write it overlong.
    let words = head[head_len - 1];
    assert_eq!((head[head_len - 2], words), (1, b1.explicit_words() as u8));
    let mut forged = bytes[..24 + head_len - 1].to_vec();
    forged.extend_from_slice(&[0x80 | words, 0x00]);
    forged[20..24].copy_from_slice(&((head_len + 1) as u32).to_le_bytes());
    forged.extend_from_slice(&bytes[24 + head_len..bytes.len() - 32]);
    let mut h = blake3::Hasher::new_derive_key("chimera 2026 material file checksum v1");
    h.update(&forged);
    forged.extend_from_slice(h.finalize().as_bytes());
    let err = MaterialBundle::from_bytes(&forged).unwrap_err();
    assert!(
        err.to_string().contains("non-canonical header encoding"),
        "{err}"
    );
    assert!(MaterialBundle::from_bytes(&bytes).is_ok());
}

#[test]
fn prefetched_items_are_the_items_drawn_in_order() {
    // Drawn directly…
    let (mut direct, _) = pair();
    let want_and = [
        direct.and_triples(8).unwrap(),
        direct.and_triples(32).unwrap(),
    ];
    let want_bits = direct.shared_bits(200).unwrap();
    let want_trunc = direct.trunc_pairs(90, 16).unwrap();
    // …and through the prefetcher, drawn ahead, handed out later.
    let (mut inner, _) = pair();
    let mut m = Prefetched::new(&mut inner);
    m.fetch(Pool::And, 8).unwrap();
    m.fetch(Pool::And, 32).unwrap();
    m.fetch(Pool::SharedBits, 200).unwrap();
    assert_eq!(m.queued(), vec![(Pool::And, 40), (Pool::SharedBits, 200)]);
    // Drawn ahead counts as remaining until handed out.
    let left: std::collections::BTreeMap<Pool, u64> = m.remaining().into_iter().collect();
    assert_eq!(left[&Pool::And], 40);
    for want in &want_and {
        let got = m.and_triples(want.a.len()).unwrap();
        assert_eq!((&got.a, &got.b, &got.c), (&want.a, &want.b, &want.c));
    }
    assert!(m.shared_bits(200).unwrap() == want_bits);
    // A pool with nothing queued is drawn from the wrapped material.
    let t = m.trunc_pairs(90, 16).unwrap();
    assert_eq!((t.r, t.r_msb), (want_trunc.r, want_trunc.r_msb));
    // Single use still holds.
    assert!(matches!(
        m.and_triples(1),
        Err(DealerError::Exhausted { .. })
    ));
}

#[test]
fn prefetched_refuses_out_of_order_requests() {
    let (mut inner, _) = pair();
    let mut m = Prefetched::new(&mut inner);
    m.fetch(Pool::Beaver, 100).unwrap();
    let err = m.beaver(50).unwrap_err();
    assert_eq!(
        err.to_string(),
        DealerError::Invalid(
            "50 Beaver triples requested, the next 100 were drawn ahead for another request".into()
        )
        .to_string()
    );
    let err = m.fetch(Pool::Ots, 10).unwrap_err();
    assert!(err.to_string().contains("not drawn ahead"), "{err}");
}

/// A material file is outside input and its checksum is not a secret: a
/// header naming a layer whose sizes overflow `usize` (or whose geometry is
/// impossible) is refused as corrupt, never an arithmetic-overflow panic
/// while computing its word counts.
#[test]
fn material_naming_an_impossible_layer_is_refused() {
    let overflowing = LinearShape::Conv2d(Conv2dShape {
        input: [1, usize::MAX, 1],
        out_channels: 1,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [usize::MAX / 2 + 1, 0],
    });
    for shape in [overflowing, too_large_conv()] {
        for pool in [
            Pool::Matrix { layer: 0, shape },
            Pool::WeightMask { layer: 0, shape },
        ] {
            let forged = MaterialBundle {
                party: Party::Client,
                plan: PLAN,
                session: SESSION,
                seed: Seed::from_u64(1),
                inventory: vec![(pool, 1)],
                explicit: vec![Vec::new()],
            };
            let bytes = forged.to_bytes().unwrap();
            let err = MaterialBundle::from_bytes(&bytes).unwrap_err();
            assert!(matches!(err, DealerError::Corrupt(_)), "{err}");
            assert!(err.to_string().contains(&pool.name()), "{err}");
        }
    }
}

/// `material_file_len` is the size of the file the dealer writes, for each
/// party, whatever the plan, session and seed (fixed-width fields), for an
/// empty demand, a full one and one with large counts (multi-byte varints);
/// a demand the dealer refuses is refused with the same error.
#[test]
fn material_file_len_is_the_written_size() {
    let mut big = Demand::new();
    big.and_triples(70_000)
        .random_ots(20_000)
        .linear(70_000, dense(), 300);
    for demand in [Demand::new(), full_demand(), big] {
        for (plan, session, seed) in [
            (PLAN, SESSION, 1),
            (PlanHash([0xff; 32]), SessionId([0; 16]), 2),
            (PlanHash([0; 32]), SessionId::random().unwrap(), 3),
        ] {
            let dealer = TrustedDealer::new(plan, session, Some(Seed::from_u64(seed))).unwrap();
            let (b0, b1) = dealer.deal(&demand).unwrap();
            for b in [b0, b1] {
                let expected = material_file_len(b.party, &demand).unwrap();
                assert_eq!(b.to_bytes().unwrap().len() as u64, expected, "{b:?}");
            }
        }
    }
    // The server's file is its binding, seed and inventory: no words. The
    // client's carries the explicit words, and its header differs from the
    // server's only in the party and the explicit lengths' varints (each
    // of the 11 pools has fewer than 2^14 words here: 1 or 2 bytes).
    let d = full_demand();
    let server = material_file_len(Party::Server, &d).unwrap();
    let client = material_file_len(Party::Client, &d).unwrap();
    let head_diff = client - server - 8 * d.explicit_words();
    assert!(head_diff <= 11, "{head_diff}");

    let mut bad = Demand::new();
    bad.linear(0, too_large_conv(), 1);
    for party in [Party::Server, Party::Client] {
        let err = material_file_len(party, &bad).unwrap_err();
        let dealt = TrustedDealer::new(PLAN, SESSION, Some(Seed::from_u64(1)))
            .unwrap()
            .deal(&bad)
            .unwrap_err();
        assert!(matches!(err, DealerError::Invalid(_)), "{err}");
        assert_eq!(err.to_string(), dealt.to_string());
    }
}
