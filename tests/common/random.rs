//! Seeded stand-in weights for example networks that ship without trained
//! ones: the runtime's generator (`weights::stand_in`), shared with
//! `chimera bench`.

use chimera_runtime::plan::Plan;
pub use chimera_runtime::weights::stand_in::SplitMix64;

/// Float32 safetensors with every parameter the plan names.
pub fn random_weights(plan: &Plan, rng: &mut SplitMix64) -> Vec<u8> {
    chimera_runtime::weights::stand_in::stand_in_weights(plan, rng)
        .expect("stand-in weights serialize")
}
