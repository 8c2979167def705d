//! Compressed storage of large documents (issue 17, retention): plan documents and big engine
//! output batches are kept zlib-compressed in a BLOB column (`sessions.plan_z`,
//! `session_events.payload_z`) next to their text column, which new rows leave empty. Rows written
//! before the compressed columns existed keep their text and are read as before.

use std::io::{Read, Write};

use crate::StoreError;

/// Output batches shorter than this stay plain text: compressing them saves little, and small
/// events (state changes, approvals) stay readable in the database.
pub const COMPRESS_FROM_BYTES: usize = 256;

/// `text`, zlib-compressed.
pub fn compress(text: &str) -> Vec<u8> {
    let mut encoder =
        flate2::write::ZlibEncoder::new(Vec::with_capacity(text.len() / 4), flate2::Compression::default());
    encoder
        .write_all(text.as_bytes())
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// `text` compressed when it is at least [`COMPRESS_FROM_BYTES`] long: (text to store, blob to
/// store) — exactly one of them carries the document.
pub fn encode(text: &str) -> (&str, Option<Vec<u8>>) {
    if text.len() >= COMPRESS_FROM_BYTES {
        ("", Some(compress(text)))
    } else {
        (text, None)
    }
}

/// The text of a stored document: the decompressed `blob` if there is one, else `text`.
/// `at` names the row and column for the error (a damaged blob is a corrupt row).
pub fn decode(at: &str, text: String, blob: Option<Vec<u8>>) -> Result<String, StoreError> {
    let Some(blob) = blob else { return Ok(text) };
    let mut out = String::with_capacity(blob.len() * 4);
    flate2::read::ZlibDecoder::new(blob.as_slice())
        .read_to_string(&mut out)
        .map_err(|e| StoreError::Corrupt(format!("{at}: cannot decompress: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_document_round_trips_compressed_and_a_small_one_stays_text() {
        let large = r#"{"line":"aws:ec2/vpc:Vpc main creating"}"#.repeat(100);
        let (text, blob) = encode(&large);
        assert_eq!(text, "");
        let blob = blob.expect("large documents are compressed");
        assert!(
            blob.len() * 10 < large.len(),
            "{} bytes from {}",
            blob.len(),
            large.len()
        );
        assert_eq!(decode("row", String::new(), Some(blob)).unwrap(), large);
        assert_eq!(encode("{}"), ("{}", None));
        assert_eq!(decode("row", "{}".into(), None).unwrap(), "{}");
    }

    #[test]
    fn a_damaged_blob_is_a_corrupt_row_not_a_panic() {
        let err = decode("session 1: column plan_z", String::new(), Some(vec![1, 2, 3])).unwrap_err();
        assert!(
            err.to_string().contains("session 1: column plan_z: cannot decompress"),
            "{err}"
        );
    }
}
