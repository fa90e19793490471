//! A test PKI made on the spot with rcgen: a CA, a server certificate for
//! `localhost` and `127.0.0.1`, a client certificate, and the certificates
//! of each failure case (expired, wrong name, signed by another CA), all as
//! PEM files in one directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// The files of a test PKI, in [`TestPki::dir`].
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The directory holding every file.
    pub dir: PathBuf,
    /// The CA certificate (PEM) that signed `server` and `client`.
    pub ca: PathBuf,
    /// A server certificate for `localhost`, `127.0.0.1` and `::1`, valid now.
    pub server: CertFiles,
    /// A client certificate (CN `test-client`), valid now.
    pub client: CertFiles,
    /// A server certificate for the same names that expired in 2001.
    pub expired: CertFiles,
    /// A server certificate valid now for `wrong.example` only.
    pub wrong_name: CertFiles,
    /// Another CA's certificate.
    pub other_ca: PathBuf,
    /// A server certificate for `localhost` and `127.0.0.1` signed by the
    /// other CA (unknown to clients that trust `ca`).
    pub other_server: CertFiles,
    /// A client certificate signed by the other CA.
    pub other_client: CertFiles,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let pem = params.self_signed(&key).expect("self-sign the CA").pem();
    (params, key, pem)
}

fn leaf(
    dir: &Path,
    name: &str,
    sans: &[&str],
    client: bool,
    expired: bool,
    issuer: &Issuer<'_, KeyPair>,
) -> CertFiles {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign the leaf");
    let files = CertFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).expect("write a certificate");
    std::fs::write(&files.key, key.serialize_pem()).expect("write a key");
    files
}

impl TestPki {
    /// Makes a fresh PKI in `dir` (which must exist).
    ///
    /// # Panics
    ///
    /// When rcgen fails or a file cannot be written.
    pub fn new(dir: &Path) -> Self {
        let (ca_params, ca_key, ca_pem) = ca("incident-metrics test CA");
        let (other_params, other_key, other_pem) = ca("some other CA");
        let ca = dir.join("ca.pem");
        let other_ca = dir.join("other-ca.pem");
        std::fs::write(&ca, ca_pem).expect("write the CA");
        std::fs::write(&other_ca, other_pem).expect("write the other CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let other = Issuer::new(other_params, other_key);
        let names = ["localhost", "127.0.0.1", "::1"];
        Self {
            server: leaf(dir, "server", &names, false, false, &issuer),
            client: leaf(dir, "test-client", &[], true, false, &issuer),
            expired: leaf(dir, "expired", &names, false, true, &issuer),
            wrong_name: leaf(dir, "wrong-name", &["wrong.example"], false, false, &issuer),
            other_server: leaf(dir, "other-server", &names, false, false, &other),
            other_client: leaf(dir, "other-client", &[], true, false, &other),
            dir: dir.to_owned(),
            ca,
            other_ca,
        }
    }

    /// Puts the other CA's server certificate and key in place of
    /// `server`'s files (for reload tests: clients trusting `other_ca`
    /// succeed from then on, clients trusting `ca` fail).
    ///
    /// # Panics
    ///
    /// When a file cannot be copied.
    pub fn swap_server_for_other(&self) {
        // Key first, then certificate, each replaced whole by a rename, so
        // that a reader never sees a half-written file.
        for (from, to) in [
            (&self.other_server.key, &self.server.key),
            (&self.other_server.cert, &self.server.cert),
        ] {
            let tmp = to.with_extension("tmp");
            std::fs::copy(from, &tmp).expect("copy");
            std::fs::rename(&tmp, to).expect("rename");
        }
    }
}
