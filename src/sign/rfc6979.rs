//! RFC 6979 deterministic nonces over OpenSSL HMAC.
//!
//! This is RFC 6979 §3.2 as libgcrypt implements it: `h1` and the HMAC
//! hash are inputs, `bits2octets(h1)` feeds the seed, and candidates outside
//! `[1, q-1]` or retries requested by the signer (r = 0 or s = 0) continue
//! the DRBG as in step h.3. Which `h1` and which HMAC hash gpg-agent passes
//! in is decided by the signer (see `signer::agent_dsa_input`).

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use zeroize::Zeroizing;

#[cfg(test)]
use super::HashAlgo;
use super::SignError;

#[cfg(test)]
pub(crate) fn message_digest(hash: HashAlgo) -> MessageDigest {
    match hash {
        HashAlgo::Sha1 => MessageDigest::sha1(),
        HashAlgo::Sha256 => MessageDigest::sha256(),
        HashAlgo::Sha512 => MessageDigest::sha512(),
    }
}

/// The HMAC hash gpg-agent names for an (already truncated) digest of
/// `len` bytes (`rfc6979_hash_algo_string` in gnupg's agent/pksign.c).
pub(crate) fn md_for_len(len: usize) -> MessageDigest {
    match len {
        20 => MessageDigest::sha1(),
        28 => MessageDigest::sha224(),
        48 => MessageDigest::sha384(),
        64 => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    }
}

pub(crate) fn crypto_err(e: openssl::error::ErrorStack) -> SignError {
    SignError::Crypto(e.to_string())
}

/// `bits2int` (RFC 6979 §2.3.2): the leftmost `qbits` bits of `b` as an
/// integer.
pub(crate) fn bits2int(b: &[u8], qbits: usize) -> Result<BigNum, SignError> {
    let mut n = BigNum::new_secure().map_err(crypto_err)?;
    n.copy_from_slice(b).map_err(crypto_err)?;
    let blen = b.len() * 8;
    if blen > qbits {
        let mut t = BigNum::new_secure().map_err(crypto_err)?;
        t.rshift(&n, (blen - qbits) as i32).map_err(crypto_err)?;
        n = t;
    }
    Ok(n)
}

/// `int2octets` (RFC 6979 §2.3.3): big-endian, left-padded to `rlen` bytes.
pub(crate) fn int2octets(n: &BigNumRef, rlen: usize) -> Result<Zeroizing<Vec<u8>>, SignError> {
    Ok(Zeroizing::new(
        n.to_vec_padded(rlen as i32).map_err(crypto_err)?,
    ))
}

/// The HMAC-DRBG of RFC 6979 §3.2, yielding candidate nonces `k`.
pub(crate) struct NonceGen {
    md: MessageDigest,
    k: Zeroizing<Vec<u8>>,
    v: Zeroizing<Vec<u8>>,
    q: BigNum,
    qbits: usize,
    /// Whether a candidate has already been produced (step h.3 applies to
    /// every later call).
    started: bool,
}

impl NonceGen {
    /// Seeds the generator (steps a–g). `x` is the private key as an
    /// integer, `h1` the message digest, `md` the HMAC hash.
    pub(crate) fn new(
        q: &BigNumRef,
        x: &BigNumRef,
        h1: &[u8],
        md: MessageDigest,
    ) -> Result<NonceGen, SignError> {
        let hlen = md.size();
        let qbits = q.num_bits() as usize;
        let rlen = qbits.div_ceil(8);

        let x_oct = int2octets(x, rlen)?;
        // bits2octets(h1) = int2octets(bits2int(h1) mod q)
        let z1 = bits2int(h1, qbits)?;
        let mut z2 = BigNum::new_secure().map_err(crypto_err)?;
        if z1.ucmp(q) != std::cmp::Ordering::Less {
            z2.checked_sub(&z1, q).map_err(crypto_err)?;
        } else {
            z2 = z1;
        }
        let h_oct = int2octets(&z2, rlen)?;

        let mut g = NonceGen {
            md,
            k: Zeroizing::new(vec![0u8; hlen]),
            v: Zeroizing::new(vec![1u8; hlen]),
            q: q.to_owned().map_err(crypto_err)?,
            qbits,
            started: false,
        };
        for sep in [0u8, 1u8] {
            // K = HMAC_K(V || sep || int2octets(x) || bits2octets(h1))
            let newk = g.hmac(&[&g.v, &[sep], &x_oct, &h_oct])?;
            g.k = newk;
            // V = HMAC_K(V)
            g.v = g.hmac(&[&g.v])?;
        }
        Ok(g)
    }

    fn hmac(&self, parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, SignError> {
        let key = PKey::hmac(&self.k).map_err(crypto_err)?;
        let mut s = Signer::new(self.md, &key).map_err(crypto_err)?;
        for p in parts {
            s.update(p).map_err(crypto_err)?;
        }
        let mut out = Zeroizing::new(vec![0u8; self.md.size()]);
        let n = s.sign(&mut out).map_err(crypto_err)?;
        out.truncate(n);
        Ok(out)
    }

    /// The next candidate `k` in `[1, q-1]` (step h). Call again if the
    /// signature turned out to be unusable (r = 0 or s = 0).
    pub(crate) fn next_k(&mut self) -> Result<BigNum, SignError> {
        loop {
            if self.started {
                // h.3: K = HMAC_K(V || 0x00); V = HMAC_K(V)
                self.k = self.hmac(&[&self.v, &[0u8]])?;
                self.v = self.hmac(&[&self.v])?;
            }
            self.started = true;
            let rlen = self.qbits.div_ceil(8);
            let mut t: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(rlen + self.v.len()));
            while t.len() * 8 < self.qbits {
                self.v = self.hmac(&[&self.v])?;
                t.extend_from_slice(&self.v);
            }
            let mut k = bits2int(&t, self.qbits)?;
            k.set_const_time();
            if k.num_bits() > 0 && k.ucmp(&self.q) == std::cmp::Ordering::Less {
                return Ok(k);
            }
        }
    }
}

/// Convenience for tests: the first RFC 6979 nonce.
#[cfg(test)]
pub(crate) fn generate_k(
    q: &BigNumRef,
    x: &BigNumRef,
    h1: &[u8],
    hash: HashAlgo,
) -> Result<BigNum, SignError> {
    NonceGen::new(q, x, h1, message_digest(hash))?.next_k()
}

/// A fresh secure bignum context.
pub(crate) fn ctx() -> Result<BigNumContext, SignError> {
    BigNumContext::new_secure().map_err(crypto_err)
}

#[cfg(test)]
mod tests {
    //! RFC 6979 Appendix A.2 test vectors (message "sample" / "test"),
    //! limited to the hashes signd accepts. These are independent oracles:
    //! k, r and s are the published values.
    use openssl::bn::BigNum;
    use openssl::hash::hash;
    use openssl::nid::Nid;

    use super::super::signer::testing;
    use super::*;

    const DSA1024_P: &str = "86F5CA03DCFEB225063FF830A0C769B9DD9D6153AD91D7CE27F787C43278B447\
        E6533B86B18BED6E8A48B784A14C252C5BE0DBF60B86D6385BD2F12FB763ED88\
        73ABFD3F5BA2E0A8C0A59082EAC056935E529DAF7C610467899C77ADEDFC846C\
        881870B7B19B2B58F9BE0521A17002E3BDD6B86685EE90B3D9A1B02B782B1779";
    const DSA1024_Q: &str = "996F967F6C8E388D9E28D01E205FBA957A5698B1";
    const DSA1024_G: &str = "07B0F92546150B62514BB771E2A0C0CE387F03BDA6C56B505209FF25FD3C133D\
        89BBCD97E904E09114D9A7DEFDEADFC9078EA544D2E401AEECC40BB9FBBF78FD\
        87995A10A1C27CB7789B594BA7EFB5C4326A9FE59A070E136DB77175464ADCA4\
        17BE5DCE2F40D10A46A3A3943F26AB7FD9C0398FF8C76EE0A56826A8A88F1DBD";
    const DSA1024_X: &str = "411602CB19A6CCC34494D79D98EF1E7ED5AF25F7";

    const DSA2048_P: &str = "9DB6FB5951B66BB6FE1E140F1D2CE5502374161FD6538DF1648218642F0B5C48\
        C8F7A41AADFA187324B87674FA1822B00F1ECF8136943D7C55757264E5A1A44F\
        FE012E9936E00C1D3E9310B01C7D179805D3058B2A9F4BB6F9716BFE6117C6B5\
        B3CC4D9BE341104AD4A80AD6C94E005F4B993E14F091EB51743BF33050C38DE2\
        35567E1B34C3D6A5C0CEAA1A0F368213C3D19843D0B4B09DCB9FC72D39C8DE41\
        F1BF14D4BB4563CA28371621CAD3324B6A2D392145BEBFAC748805236F5CA2FE\
        92B871CD8F9C36D3292B5509CA8CAA77A2ADFC7BFD77DDA6F71125A7456FEA15\
        3E433256A2261C6A06ED3693797E7995FAD5AABBCFBE3EDA2741E375404AE25B";
    const DSA2048_Q: &str = "F2C3119374CE76C9356990B465374A17F23F9ED35089BD969F61C6DDE9998C1F";
    const DSA2048_G: &str = "5C7FF6B06F8F143FE8288433493E4769C4D988ACE5BE25A0E24809670716C613\
        D7B0CEE6932F8FAA7C44D2CB24523DA53FBE4F6EC3595892D1AA58C4328A06C4\
        6A15662E7EAA703A1DECF8BBB2D05DBE2EB956C142A338661D10461C0D135472\
        085057F3494309FFA73C611F78B32ADBB5740C361C9F35BE90997DB2014E2EF5\
        AA61782F52ABEB8BD6432C4DD097BC5423B285DAFB60DC364E8161F4A2A35ACA\
        3A10B1C4D203CC76A470A33AFDCBDD92959859ABD8B56E1725252D78EAC66E71\
        BA9AE3F1DD2487199874393CD4D832186800654760E1E34C09E4D155179F9EC0\
        DC4473F996BDCE6EED1CABED8B6F116F7AD9CF505DF0F998E34AB27514B0FFE7";
    const DSA2048_X: &str = "69C7548C21D0DFEA6B9A51C9EAD4E27C33D3B3F180316E5BCAB92C933F0E4DBC";

    const P256_X: &str = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
    const P256_N: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
    const P384_X: &str = "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8\
        96D5724E4C70A825F872C9EA60D2EDF5";
    const P384_N: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF\
        581A0DB248B0A77AECEC196ACCC52973";
    const P521_X: &str = "0FAD06DAA62BA3B25D2FB40133DA757205DE67F5BB0018FEE8C86E1B68C7E75\
        CAA896EB32F1F47C70855836A6D16FCC1466F6D8FBEC67DB89EC0C08B0E996B83538";

    fn digest(h: HashAlgo, msg: &str) -> Vec<u8> {
        hash(message_digest(h), msg.as_bytes()).unwrap().to_vec()
    }

    fn bn(s: &str) -> BigNum {
        BigNum::from_hex_str(s).unwrap()
    }

    fn check_k(q: &str, x: &str, h: HashAlgo, msg: &str, k: &str) {
        let got = generate_k(&bn(q), &bn(x), &digest(h, msg), h).unwrap();
        assert_eq!(got, bn(k), "k for {h:?} {msg:?}");
    }

    struct Dsa {
        p: &'static str,
        q: &'static str,
        g: &'static str,
        x: &'static str,
    }
    const D1024: Dsa = Dsa {
        p: DSA1024_P,
        q: DSA1024_Q,
        g: DSA1024_G,
        x: DSA1024_X,
    };
    const D2048: Dsa = Dsa {
        p: DSA2048_P,
        q: DSA2048_Q,
        g: DSA2048_G,
        x: DSA2048_X,
    };

    fn check_dsa(key: &Dsa, h: HashAlgo, msg: &str, k: &str, r: &str, s: &str) {
        check_k(key.q, key.x, h, msg, k);
        let (gr, gs) = testing::dsa(key.p, key.q, key.g, key.x, h, &digest(h, msg));
        assert_eq!((gr, gs), (bn(r), bn(s)), "DSA r,s for {h:?} {msg:?}");
    }

    #[allow(clippy::too_many_arguments)]
    fn check_ec(
        nid: Nid,
        n: Option<&str>,
        x: &str,
        h: HashAlgo,
        msg: &str,
        k: &str,
        r: &str,
        s: &str,
    ) {
        if let Some(n) = n {
            check_k(n, x, h, msg, k);
        }
        let (gr, gs) = testing::ecdsa(nid, x, h, &digest(h, msg));
        assert_eq!((gr, gs), (bn(r), bn(s)), "ECDSA r,s for {h:?} {msg:?}");
    }

    #[test]
    fn a21_dsa_1024() {
        check_dsa(
            &D1024,
            HashAlgo::Sha1,
            "sample",
            "7BDB6B0FF756E1BB5D53583EF979082F9AD5BD5B",
            "2E1A0C2562B2912CAAF89186FB0F42001585DA55",
            "29EFB6B0AFF2D7A68EB70CA313022253B9A88DF5",
        );
        // SHA-256 digest longer than q (160 bits): bits2int truncation.
        check_dsa(
            &D1024,
            HashAlgo::Sha256,
            "sample",
            "519BA0546D0C39202A7D34D7DFA5E760B318BCFB",
            "81F2F5850BE5BC123C43F71A3033E9384611C545",
            "4CDD914B65EB6C66A8AAAD27299BEE6B035F5E89",
        );
        check_dsa(
            &D1024,
            HashAlgo::Sha512,
            "test",
            "65D2C2EEB175E370F28C75BFCDC028D22C7DBE9C",
            "8EA47E475BA8AC6F2D821DA3BD212D11A3DEB9A0",
            "7C670C7AD72B6C050C109E1790008097125433E8",
        );
    }

    #[test]
    fn a22_dsa_2048() {
        // SHA-1 digest shorter than q (256 bits).
        check_dsa(
            &D2048,
            HashAlgo::Sha1,
            "sample",
            "888FA6F7738A41BDC9846466ABDB8174C0338250AE50CE955CA16230F9CBD53E",
            "3A1B2DBD7489D6ED7E608FD036C83AF396E290DBD602408E8677DAABD6E7445A",
            "D26FCBA19FA3E3058FFC02CA1596CDBB6E0D20CB37B06054F7E36DED0CDBBCCF",
        );
        check_dsa(
            &D2048,
            HashAlgo::Sha256,
            "sample",
            "8926A27C40484216F052F4427CFD5647338B7B3939BC6573AF4333569D597C52",
            "EACE8BDBBE353C432A795D9EC556C6D021F7A03F42C36E9BC87E4AC7932CC809",
            "7081E175455F9247B812B74583E9E94F9EA79BD640DC962533B0680793A38D53",
        );
        check_dsa(
            &D2048,
            HashAlgo::Sha512,
            "test",
            "AFF1651E4CD6036D57AA8B2A05CCF1A9D5A40166340ECBBDC55BE10B568AA0AA",
            "89EC4BB1400ECCFF8E7D9AA515CD1DE7803F2DAFF09693EE7FD1353E90A68307",
            "C9F0BDABCC0D880BB137A994CC7F3980CE91CC10FAF529FC46565B15CEA854E1",
        );
    }

    #[test]
    fn a25_ecdsa_p256() {
        let n = Some(P256_N);
        let c = Nid::X9_62_PRIME256V1;
        check_ec(
            c,
            n,
            P256_X,
            HashAlgo::Sha1,
            "sample",
            "882905F1227FD620FBF2ABF21244F0BA83D0DC3A9103DBBEE43A1FB858109DB4",
            "61340C88C3AAEBEB4F6D667F672CA9759A6CCAA9FA8811313039EE4A35471D32",
            "6D7F147DAC089441BB2E2FE8F7A3FA264B9C475098FDCF6E00D7C996E1B8B7EB",
        );
        check_ec(
            c,
            n,
            P256_X,
            HashAlgo::Sha256,
            "sample",
            "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60",
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
        );
        // SHA-512 with P-256: the DRBG runs on SHA-512 (as libgcrypt does).
        check_ec(
            c,
            n,
            P256_X,
            HashAlgo::Sha512,
            "sample",
            "5FA81C63109BADB88C1F367B47DA606DA28CAD69AA22C4FE6AD7DF73A7173AA5",
            "8496A60B5E9B47C825488827E0495B0E3FA109EC4568FD3F8D1097678EB97F00",
            "2362AB1ADBE2B8ADF9CB9EDAB740EA6049C028114F2460F96554F61FAE3302FE",
        );
        check_ec(
            c,
            n,
            P256_X,
            HashAlgo::Sha256,
            "test",
            "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0",
            "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
            "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
        );
    }

    #[test]
    fn a26_ecdsa_p384() {
        let n = Some(P384_N);
        let c = Nid::SECP384R1;
        check_ec(
            c,
            n,
            P384_X,
            HashAlgo::Sha512,
            "sample",
            "92FC3C7183A883E24216D1141F1A8976C5B0DD797DFA597E3D7B32198BD35331\
             A4E966532593A52980D0E3AAA5E10EC3",
            "ED0959D5880AB2D869AE7F6C2915C6D60F96507F9CB3E047C0046861DA4A799C\
             FE30F35CC900056D7C99CD7882433709",
            "512C8CCEEE3890A84058CE1E22DBC2198F42323CE8ACA9135329F03C068E5112\
             DC7CC3EF3446DEFCEB01A45C2667FDD5",
        );
        check_ec(
            c,
            n,
            P384_X,
            HashAlgo::Sha256,
            "sample",
            "180AE9F9AEC5438A44BC159A1FCB277C7BE54FA20E7CF404B490650A8ACC414E\
             375572342863C899F9F2EDF9747A9B60",
            "21B13D1E013C7FA1392D03C5F99AF8B30C570C6F98D4EA8E354B63A21D3DAA33\
             BDE1E888E63355D92FA2B3C36D8FB2CD",
            "F3AA443FB107745BF4BD77CB3891674632068A10CA67E3D45DB2266FA7D1FEEB\
             EFDC63ECCD1AC42EC0CB8668A4FA0AB0",
        );
        check_ec(
            c,
            n,
            P384_X,
            HashAlgo::Sha1,
            "test",
            "66CC2C8F4D303FC962E5FF6A27BD79F84EC812DDAE58CF5243B64A4AD8094D47\
             EC3727F3A3C186C15054492E30698497",
            "4BC35D3A50EF4E30576F58CD96CE6BF638025EE624004A1F7789A8B8E43D0678\
             ACD9D29876DAF46638645F7F404B11C7",
            "D5A6326C494ED3FF614703878961C0FDE7B2C278F9A65FD8C4B7186201A29916\
             95BA1C84541327E966FA7B50F7382282",
        );
    }

    #[test]
    fn a27_ecdsa_p521_sha512() {
        // qlen 521 > hlen 512: no truncation, rlen 66 bytes.
        check_ec(
            Nid::SECP521R1,
            None,
            P521_X,
            HashAlgo::Sha512,
            "sample",
            "",
            "C328FAFCBD79DD77850370C46325D987CB525569FB63C5D3BC53950E6D4C5F1\
             74E25A1EE9017B5D450606ADD152B534931D7D4E8455CC91F9B15BF05EC36E37\
             7FA",
            "617CCE7CF5064806C467F678D3B4080D6F1CC50AF26CA209417308281B68AF2\
             82623EAA63E5B5C0723D8B8C37FF0777B1A20F8CCB1DCCC43997F1EE0E44DA4A\
             67A",
        );
    }

    #[test]
    fn later_candidates_differ() {
        // Step h.3: a rejected candidate leads to a different, valid k.
        let q = bn(DSA2048_Q);
        let h = digest(HashAlgo::Sha256, "sample");
        let mut g = NonceGen::new(&q, &bn(DSA2048_X), &h, MessageDigest::sha256()).unwrap();
        let k1 = g.next_k().unwrap();
        let k2 = g.next_k().unwrap();
        assert_eq!(
            k1,
            bn("8926A27C40484216F052F4427CFD5647338B7B3939BC6573AF4333569D597C52")
        );
        assert_ne!(k1, k2);
        assert!(k2 < q);
    }
}
