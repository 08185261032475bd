//! GnuPG's OCB-encrypted data packet (tag 20), which GnuPG >= 2.3 writes
//! for recipients whose features advertise AEAD, so a `_signkey` blob made
//! on a current distribution may be one (spec §13 "Blobs").
//!
//! The format is the "AEAD Encrypted Data Packet" of
//! draft-ietf-openpgp-rfc4880bis-10 §5.16, which RFC 9580 dropped (it has
//! SEIPD v2 instead); sequoia-openpgp 2.x no longer reads it. It is parsed
//! here by hand, byte by byte, because nothing else does and every byte
//! counts: the header octets are authenticated as associated data, and the
//! chunk boundaries are only implied by the chunk size, so the split must
//! be exactly the draft's. AES-OCB itself is OpenSSL's.
//!
//! Body (§5.16): version 1 | cipher | AEAD algorithm (2 = OCB) | chunk
//! size octet c (chunks of 2^(c+6) octets) | IV (15 octets for OCB) |
//! chunks, each ciphertext followed by its 16-octet tag | a final 16-octet
//! tag. Chunk i is sealed with the nonce IV ⊕ i (i a 64-bit big-endian
//! number, right-aligned) and the associated data `0xD4 version cipher
//! aead c` ‖ i (8 octets); the final tag seals no data, with index = the
//! number of chunks and the associated data extended by the total
//! plaintext length (8 octets).
use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// The AEAD algorithm id of OCB (draft-10 §9.6); 1 is EAX, which GnuPG
/// never writes and OpenSSL does not offer.
const OCB: u8 = 2;
const OCB_IV_LEN: usize = 15;
const TAG_LEN: usize = 16;
/// Largest chunk size octet the draft allows (chunks of 4 MiB).
const MAX_CHUNK_OCTET: u8 = 16;
/// The new-format packet tag octet of tag 20, the first octet of every
/// chunk's associated data.
const AD_TAG_OCTET: u8 = 0xd4;

/// Why an OCB-encrypted packet could not be read or opened. Texts are the
/// wire texts (no key material, no plaintext).
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OcbError {
    #[error("ocb encrypted data: truncated packet")]
    Truncated,
    #[error("ocb encrypted data: unknown packet version {0}")]
    UnsupportedVersion(u8),
    #[error("ocb encrypted data: unsupported aead algorithm {0} (only ocb, 2)")]
    UnsupportedAead(u8),
    #[error("ocb encrypted data: unsupported cipher algorithm {0} (only aes)")]
    UnsupportedCipher(u8),
    #[error("ocb encrypted data: chunk size octet {0} is above {MAX_CHUNK_OCTET}")]
    BadChunkSize(u8),
    #[error("ocb encrypted data: session key of {got} octets for cipher {cipher}")]
    KeyLength { cipher: u8, got: usize },
    /// A chunk's tag does not match: wrong session key, or corrupt data.
    #[error("ocb encrypted data: authentication tag of chunk {0} does not match (corrupt or tampered data)")]
    ChunkTag(u64),
    /// The final tag does not match: the data was truncated or extended.
    #[error(
        "ocb encrypted data: final authentication tag does not match (truncated or tampered data)"
    )]
    FinalTag,
    /// The blob's packets do not frame (bad header or length).
    #[error("ocb encrypted data: bad packet framing")]
    Framing,
}

/// A parsed tag-20 packet body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcbPacket {
    pub cipher: u8,
    pub chunk_octet: u8,
    pub iv: [u8; OCB_IV_LEN],
    /// Chunks with their tags, then the final tag.
    pub data: Vec<u8>,
}

/// A message that ends in a tag-20 packet: its session key packets (whole
/// packets, header included) and the packet itself.
#[derive(Debug)]
pub struct OcbMessage {
    pub session_key_packets: Vec<Vec<u8>>,
    pub packet: OcbPacket,
}

/// One packet: tag and body (partial lengths joined).
struct Framed {
    tag: u8,
    whole_start: usize,
    whole_end: usize,
    body: Vec<u8>,
}

/// Reads the packet at `data[at..]` (RFC 4880 §4.2, both header formats,
/// partial body lengths joined).
fn next_packet(data: &[u8], at: usize) -> Result<Framed, OcbError> {
    let mut pos = at;
    let byte = |pos: &mut usize| -> Result<u8, OcbError> {
        let b = *data.get(*pos).ok_or(OcbError::Framing)?;
        *pos += 1;
        Ok(b)
    };
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], OcbError> {
        let end = pos.checked_add(n).ok_or(OcbError::Framing)?;
        let s = data.get(*pos..end).ok_or(OcbError::Framing)?;
        *pos = end;
        Ok(s)
    };
    let ctb = byte(&mut pos)?;
    if ctb & 0x80 == 0 {
        return Err(OcbError::Framing);
    }
    let mut body = Vec::new();
    let tag;
    if ctb & 0x40 == 0 {
        tag = (ctb >> 2) & 0x0f;
        let len = match ctb & 3 {
            0 => usize::from(byte(&mut pos)?),
            1 => usize::from(u16::from_be_bytes([byte(&mut pos)?, byte(&mut pos)?])),
            2 => {
                let b = take(&mut pos, 4)?;
                usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .map_err(|_| OcbError::Framing)?
            }
            _ => data.len() - pos,
        };
        body.extend_from_slice(take(&mut pos, len)?);
    } else {
        tag = ctb & 0x3f;
        loop {
            let o = byte(&mut pos)?;
            let (len, partial) = match o {
                0..=191 => (usize::from(o), false),
                192..=223 => (
                    (usize::from(o - 192) << 8) + usize::from(byte(&mut pos)?) + 192,
                    false,
                ),
                224..=254 => (1usize << (o & 0x1f), true),
                255 => {
                    let b = take(&mut pos, 4)?;
                    let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    (usize::try_from(n).map_err(|_| OcbError::Framing)?, false)
                }
            };
            body.extend_from_slice(take(&mut pos, len)?);
            if !partial {
                break;
            }
        }
    }
    Ok(Framed {
        tag,
        whole_start: at,
        whole_end: pos,
        body,
    })
}

/// Splits a gpg message into its session key packets and a final tag-20
/// packet; `None` if it has no tag-20 packet (any other message is left to
/// the OpenPGP parser). Errors when a tag-20 packet is there but does not
/// parse, or packets other than session keys precede it.
pub fn split_message(blob: &[u8]) -> Result<Option<OcbMessage>, OcbError> {
    let mut at = 0;
    let mut session_key_packets = Vec::new();
    while at < blob.len() {
        let Ok(p) = next_packet(blob, at) else {
            return Ok(None);
        };
        match p.tag {
            1 | 3 => session_key_packets.push(blob[p.whole_start..p.whole_end].to_vec()),
            20 => {
                if p.whole_end != blob.len() {
                    return Err(OcbError::Framing);
                }
                return Ok(Some(OcbMessage {
                    session_key_packets,
                    packet: parse_packet(&p.body)?,
                }));
            }
            _ => return Ok(None),
        }
        at = p.whole_end;
    }
    Ok(None)
}

/// Parses a tag-20 packet body (draft-10 §5.16).
pub fn parse_packet(body: &[u8]) -> Result<OcbPacket, OcbError> {
    let [version, cipher, aead, chunk_octet, rest @ ..] = body else {
        return Err(OcbError::Truncated);
    };
    if *version != 1 {
        return Err(OcbError::UnsupportedVersion(*version));
    }
    if *aead != OCB {
        return Err(OcbError::UnsupportedAead(*aead));
    }
    if !matches!(cipher, 7..=9) {
        return Err(OcbError::UnsupportedCipher(*cipher));
    }
    if *chunk_octet > MAX_CHUNK_OCTET {
        return Err(OcbError::BadChunkSize(*chunk_octet));
    }
    if rest.len() < OCB_IV_LEN + TAG_LEN {
        return Err(OcbError::Truncated);
    }
    let (iv, data) = rest.split_at(OCB_IV_LEN);
    Ok(OcbPacket {
        cipher: *cipher,
        chunk_octet: *chunk_octet,
        iv: iv.try_into().map_err(|_| OcbError::Truncated)?,
        data: data.to_vec(),
    })
}

impl OcbPacket {
    fn header(&self) -> [u8; 5] {
        [AD_TAG_OCTET, 1, self.cipher, OCB, self.chunk_octet]
    }

    fn nonce(&self, index: u64) -> [u8; OCB_IV_LEN] {
        let mut nonce = self.iv;
        for (n, i) in nonce[OCB_IV_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
            *n ^= i;
        }
        nonce
    }

    /// Decrypts and authenticates every chunk and the final tag with
    /// `session_key` (16, 24 or 32 octets for AES-128/192/256). Errors:
    /// wrong key length, a chunk or the final tag not matching.
    pub fn decrypt(&self, session_key: &[u8]) -> Result<SecretBytes, OcbError> {
        use openssl::symm::{decrypt_aead, Cipher};
        let (cipher, key_len) = match self.cipher {
            7 => (Cipher::aes_128_ocb(), 16),
            8 => (Cipher::aes_192_ocb(), 24),
            _ => (Cipher::aes_256_ocb(), 32),
        };
        if session_key.len() != key_len {
            return Err(OcbError::KeyLength {
                cipher: self.cipher,
                got: session_key.len(),
            });
        }
        if self.data.len() < TAG_LEN {
            return Err(OcbError::Truncated);
        }
        if self.chunk_octet > MAX_CHUNK_OCTET {
            return Err(OcbError::BadChunkSize(self.chunk_octet));
        }
        let chunk_len = 1usize << (self.chunk_octet + 6);
        let sealed = &self.data[..self.data.len() - TAG_LEN];
        let final_tag = &self.data[self.data.len() - TAG_LEN..];
        let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
        let mut index = 0u64;
        let mut rest = sealed;
        while !rest.is_empty() {
            let record = rest.len().min(chunk_len + TAG_LEN);
            if record <= TAG_LEN {
                return Err(OcbError::Truncated);
            }
            let (ct, tag) = rest[..record].split_at(record - TAG_LEN);
            let mut ad = self.header().to_vec();
            ad.extend_from_slice(&index.to_be_bytes());
            let chunk = Zeroizing::new(
                decrypt_aead(cipher, session_key, Some(&self.nonce(index)), &ad, ct, tag)
                    .map_err(|_| OcbError::ChunkTag(index))?,
            );
            plain.extend_from_slice(&chunk);
            rest = &rest[record..];
            index += 1;
        }
        let mut ad = self.header().to_vec();
        ad.extend_from_slice(&index.to_be_bytes());
        ad.extend_from_slice(&(plain.len() as u64).to_be_bytes());
        decrypt_aead(
            cipher,
            session_key,
            Some(&self.nonce(index)),
            &ad,
            &[],
            final_tag,
        )
        .map_err(|_| OcbError::FinalTag)?;
        Ok(SecretBytes::new(std::mem::take(&mut *plain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals `plain` as draft-10 §5.16 says, with OpenSSL, for the
    /// decoder's own round trip; the independent oracle is `rnp` in
    /// `tests/blob_ocb.rs`.
    fn seal(key: &[u8], iv: [u8; 15], c: u8, plain: &[u8]) -> Vec<u8> {
        use openssl::symm::{encrypt_aead, Cipher};
        let p = OcbPacket {
            cipher: 9,
            chunk_octet: c,
            iv,
            data: Vec::new(),
        };
        let mut body = vec![1, 9, 2, c];
        body.extend_from_slice(&iv);
        let mut index = 0u64;
        for chunk in plain.chunks(1 << (c + 6)) {
            let mut ad = p.header().to_vec();
            ad.extend_from_slice(&index.to_be_bytes());
            let mut tag = [0u8; 16];
            let ct = encrypt_aead(
                Cipher::aes_256_ocb(),
                key,
                Some(&p.nonce(index)),
                &ad,
                chunk,
                &mut tag,
            )
            .unwrap();
            body.extend_from_slice(&ct);
            body.extend_from_slice(&tag);
            index += 1;
        }
        let mut ad = p.header().to_vec();
        ad.extend_from_slice(&index.to_be_bytes());
        ad.extend_from_slice(&(plain.len() as u64).to_be_bytes());
        let mut tag = [0u8; 16];
        encrypt_aead(
            Cipher::aes_256_ocb(),
            key,
            Some(&p.nonce(index)),
            &ad,
            &[],
            &mut tag,
        )
        .unwrap();
        body.extend_from_slice(&tag);
        body
    }

    #[test]
    fn round_trip_over_chunk_boundaries() {
        let key = [7u8; 32];
        for len in [0usize, 1, 63, 64, 65, 128, 200] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let body = seal(&key, [3; 15], 0, &plain);
            let p = parse_packet(&body).unwrap();
            assert_eq!(p.decrypt(&key).unwrap().expose(), &plain[..], "{len}");
            // Every flipped byte after the header is refused.
            for at in 4..body.len() {
                let mut bad = body.clone();
                bad[at] ^= 1;
                assert!(
                    parse_packet(&bad).unwrap().decrypt(&key).is_err(),
                    "{len} {at}"
                );
            }
            // A dropped chunk (or final tag) is refused.
            if len > 64 {
                let mut cut = body.clone();
                cut.drain(4 + 15..4 + 15 + 64 + 16);
                assert!(parse_packet(&cut).unwrap().decrypt(&key).is_err());
            }
        }
    }

    #[test]
    fn header_checks() {
        let ok = [1u8, 9, 2, 12];
        let tail = [0u8; 31];
        let with = |h: [u8; 4]| [&h[..], &tail[..]].concat();
        assert!(parse_packet(&with(ok)).is_ok());
        assert_eq!(
            parse_packet(&with([2, 9, 2, 12])),
            Err(OcbError::UnsupportedVersion(2))
        );
        assert_eq!(
            parse_packet(&with([1, 9, 1, 12])),
            Err(OcbError::UnsupportedAead(1))
        );
        assert_eq!(
            parse_packet(&with([1, 10, 2, 12])),
            Err(OcbError::UnsupportedCipher(10))
        );
        assert_eq!(
            parse_packet(&with([1, 9, 2, 17])),
            Err(OcbError::BadChunkSize(17))
        );
        assert_eq!(parse_packet(&ok[..3]), Err(OcbError::Truncated));
        assert_eq!(parse_packet(&[1, 9, 2, 12, 0, 0]), Err(OcbError::Truncated));
        let p = parse_packet(&with(ok)).unwrap();
        assert_eq!(
            p.decrypt(&[0; 16]),
            Err(OcbError::KeyLength { cipher: 9, got: 16 })
        );
    }

    #[test]
    fn nonce_is_iv_xor_index() {
        let p = OcbPacket {
            cipher: 9,
            chunk_octet: 0,
            iv: [0xff; 15],
            data: Vec::new(),
        };
        let n = p.nonce(0x0102);
        assert_eq!(&n[..13], &[0xff; 13]);
        assert_eq!(&n[13..], &[0xfe, 0xfd]);
    }

    #[test]
    fn split_finds_the_packet_after_session_keys() {
        let key = [1u8; 32];
        let body = seal(&key, [0; 15], 0, b"x");
        let mut msg = vec![0xc1, 3, 9, 9, 9]; // a (bogus) PKESK, new format
        msg.push(0xd4);
        msg.push(body.len() as u8);
        msg.extend_from_slice(&body);
        let m = split_message(&msg).unwrap().unwrap();
        assert_eq!(m.session_key_packets, [vec![0xc1, 3, 9, 9, 9]]);
        assert_eq!(m.packet.decrypt(&key).unwrap().expose(), b"x");
        // A SEIPD message is not ours.
        assert!(split_message(&[0xc1, 1, 0, 0xd2, 1, 1]).unwrap().is_none());
        // Trailing bytes after the packet are refused.
        msg.push(0);
        assert_eq!(split_message(&msg).unwrap_err(), OcbError::Framing);
    }
}
