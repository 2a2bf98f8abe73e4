//! TensorFlow inputs from one byte string: the first byte picks what the
//! rest is. 0: a `saved_model.pb` (imported without a checkpoint); 1: a
//! frozen GraphDef; 2: a checkpoint index (`variables.index`), whose every
//! entry and object graph are then read (the shards do not exist, so
//! reads end in errors after the index's checks).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    match kind % 3 {
        0 => {
            let _ = ptq_tf::import_saved_model_bytes(rest, "fuzz/saved_model.pb", None);
        }
        1 => {
            let _ = ptq_tf::import_graph_def_bytes(rest, "fuzz.pb");
        }
        _ => {
            if let Ok(c) = ptq_tf::Checkpoint::from_index(Path::new("fuzz/variables"), rest) {
                let keys: Vec<String> = c.keys().map(str::to_string).collect();
                for k in keys {
                    let _ = c.read(&k);
                }
                let _ = c.object_graph();
            }
        }
    }
});
