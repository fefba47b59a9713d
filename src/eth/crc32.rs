//! CRC-32 (IEEE 802.3, the polynomial of zip and Ethernet), as EIP-2124 fork hashes use it.

/// The reflected IEEE polynomial.
const POLY: u32 = 0xedb8_8320;

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// The checksum of `prev`'s input followed by `data` (start from 0 for a fresh checksum).
pub(crate) fn update(prev: u32, data: &[u8]) -> u32 {
    let mut crc = !prev;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The checksum of `data`.
pub(crate) fn checksum(data: &[u8]) -> u32 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(checksum(b""), 0);
        // The standard check value of CRC-32/IEEE.
        assert_eq!(checksum(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            checksum(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
        // Updating in pieces equals checksumming the whole.
        assert_eq!(update(checksum(b"1234"), b"56789"), 0xcbf4_3926);
    }
}
