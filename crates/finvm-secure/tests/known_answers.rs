//! Every known-answer vector of HOST.md §8 (and the database bundle vectors
//! of DATABASE.md §4.8), reproduced byte for byte. The Argon2id and PBKDF2
//! vectors run at the real floors (t=3, m=64 MiB; 210,000 iterations).

use finvm_secure::grant::{
    ecies_shared_secret, passphrase_grant_from_parts, wallet_grant_from_parts, wallet_public_key,
};
use finvm_secure::{
    b64, dbv2, unwrap_dek, Dek, Envelope, Grant, Kdf, KdfFloors, PassphraseProvider, Secret32,
    StaticKeyProvider, Target, WalletKeyProvider,
};
use serde_json::Map;

fn seq<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start + i as u8)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const PASSPHRASE: &str = "correct horse battery staple";

fn dek() -> Dek {
    Dek::from_bytes(seq(0))
}

#[test]
fn envelope_vector() {
    let env = Envelope::seal_with_iv(&dek(), Target::Db, br#"{"sequence":0,"tables":[]}"#, seq(0));
    assert_eq!(
        env.to_json(),
        r#"{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":"AAECAwQFBgcICQoL","aad":"finvm:db","ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit"}"#
    );
    let parsed = Envelope::parse(&env.to_json()).unwrap();
    assert_eq!(parsed, env);
    assert_eq!(
        parsed.open(&dek()).unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
}

#[test]
fn envelope_accepts_any_key_order_and_absent_aad() {
    let text = r#"{"ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit","iv":"AAECAwQFBgcICQoL","cipher":"aes-256-gcm","target":"db","fenc":1}"#;
    let env = Envelope::parse(text).unwrap();
    assert_eq!(env.aad, None);
    assert_eq!(env.open(&dek()).unwrap(), r#"{"sequence":0,"tables":[]}"#);
    // `fenc` as 1.0 is the number 1 too.
    let text = text.replace("\"fenc\":1", "\"fenc\":1.0");
    assert!(Envelope::parse(&text).unwrap().open(&dek()).is_ok());
}

#[test]
fn pbkdf2_grant_vector_at_the_floor() {
    let salt: [u8; 16] = seq(0);
    assert_eq!(b64::encode(&salt), "AAECAwQFBgcICQoLDA0ODw==");
    let kek = Kdf::PBKDF2_DEFAULT
        .derive(PASSPHRASE.as_bytes(), &salt, &KdfFloors::REFERENCE)
        .unwrap();
    assert_eq!(
        hex(kek.as_bytes()),
        "18465cade096c185b5f60765891fca3f74477e23fd9b6fc88faf7831a91753ac"
    );
    let iv: [u8; 12] = seq(0xa0);
    assert_eq!(b64::encode(&iv), "oKGio6Slpqeoqaqr");
    let grant = passphrase_grant_from_parts(&kek, &dek(), "pbkdf2-sha256", Map::new(), &salt, iv);
    assert_eq!(
        grant.str_field("ct"),
        Some("20JbcuT9FozBbt/KN4G9gs3ZVC2Yb69yrgaOZACyxq3i7sYbGHgOuiBxsZYC36P4")
    );
    assert_eq!(
        grant.to_json(),
        r#"{"wrap":"aesgcm-keywrap","iv":"oKGio6Slpqeoqaqr","ct":"20JbcuT9FozBbt/KN4G9gs3ZVC2Yb69yrgaOZACyxq3i7sYbGHgOuiBxsZYC36P4","kdf":"pbkdf2-sha256","salt":"AAECAwQFBgcICQoLDA0ODw==","kdfParams":{}}"#
    );
    // A passphrase provider opens it (PBKDF2 picked from the grant's kdf).
    let provider = PassphraseProvider::new(PASSPHRASE).unwrap();
    let opened = unwrap_dek(&Grant::parse(&grant.to_json()).unwrap(), &provider).unwrap();
    assert_eq!(opened.as_bytes(), dek().as_bytes());
    // So does a provider that is handed the KEK.
    let opened = unwrap_dek(&grant, &StaticKeyProvider::with_kek(*kek.as_bytes())).unwrap();
    assert_eq!(opened.as_bytes(), dek().as_bytes());
}

#[test]
fn argon2id_grant_vector_at_the_floor() {
    let salt: [u8; 16] = seq(0);
    let kek = Kdf::ARGON2ID_DEFAULT
        .derive(PASSPHRASE.as_bytes(), &salt, &KdfFloors::REFERENCE)
        .unwrap();
    assert_eq!(
        hex(kek.as_bytes()),
        "0d1a3c6523c8f06e4e0af9c515aa5b5448cfebd6838f2d52c3d8b6ef8ddc3c2e"
    );
    let grant = passphrase_grant_from_parts(&kek, &dek(), "argon2id", Map::new(), &salt, seq(0xa0));
    let expected = r#"{"wrap":"aesgcm-keywrap","iv":"oKGio6Slpqeoqaqr","ct":"infaJ3kAnEFwh26WT+/KeXZx6IbeKD4G6+UvRzLeqVE0PKo2ESAeiF8JEIdLJw+Q","kdf":"argon2id","salt":"AAECAwQFBgcICQoLDA0ODw==","kdfParams":{}}"#;
    assert_eq!(grant.to_json(), expected);
    // The reference's grant text, read back and re-serialised, is unchanged,
    // and the passphrase opens it (Argon2id defaults from the empty kdfParams).
    let parsed = Grant::parse(expected).unwrap();
    assert_eq!(parsed.to_json(), expected);
    let provider = PassphraseProvider::new(PASSPHRASE).unwrap();
    assert_eq!(
        unwrap_dek(&parsed, &provider).unwrap().as_bytes(),
        dek().as_bytes()
    );
    // Our own grants record the parameters explicitly; same KEK, same ct.
    let explicit = passphrase_grant_from_parts(
        &kek,
        &dek(),
        Kdf::ARGON2ID_DEFAULT.id(),
        Kdf::ARGON2ID_DEFAULT.params_json(),
        &salt,
        seq(0xa0),
    );
    assert_eq!(
        explicit.to_json(),
        expected.replace(
            r#""kdfParams":{}"#,
            r#""kdfParams":{"iterations":3,"memorySize":65536,"parallelism":1}"#
        )
    );
    let by_kek = StaticKeyProvider::with_kek(*kek.as_bytes());
    assert_eq!(
        unwrap_dek(&explicit, &by_kek).unwrap().as_bytes(),
        dek().as_bytes()
    );
}

#[test]
fn ecies_grant_vector() {
    let recipient = Secret32::new([0x11; 32]);
    let recipient_pub = wallet_public_key(&recipient).unwrap();
    assert_eq!(
        hex(&recipient_pub),
        "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
    );
    assert_eq!(
        b64::encode(&recipient_pub),
        "A081W9y3zAr3KO88zrlhXZBoS7Wyyl+FmrDwtwQHWHGq"
    );
    let ephemeral = Secret32::new([0x22; 32]);
    let ephemeral_pub = wallet_public_key(&ephemeral).unwrap();
    assert_eq!(
        b64::encode(&ephemeral_pub),
        "AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n"
    );

    let (x, key) = ecies_shared_secret(&ephemeral, &recipient_pub).unwrap();
    assert_eq!(
        hex(&x),
        "77e0510d5042e2f5e9e59c977b81eeed590cf7d20c1c51da451a8eaa9fdc45ff"
    );
    assert_eq!(
        hex(key.as_bytes()),
        "fd264454c8f37c9c4b000f0672399b9c76011de71f489fd8a043e25e558226f9"
    );
    // The recipient's side computes the same secret.
    let (x2, _) = ecies_shared_secret(&recipient, &ephemeral_pub).unwrap();
    assert_eq!(x, x2);

    let iv: [u8; 12] = seq(0xb0);
    assert_eq!(b64::encode(&iv), "sLGys7S1tre4ubq7");
    let grant = wallet_grant_from_parts(&recipient_pub, &dek(), &ephemeral, iv).unwrap();
    let expected = r#"{"wrap":"ecies-secp256k1","ephemeralPub":"AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n","iv":"sLGys7S1tre4ubq7","ct":"jKzD8nSo0vd2/zy+LR4NHZ5LODh1yZHilVmIdeZpPchPY+NWfk+rF52dvHU0LkNj","recipientPub":"A081W9y3zAr3KO88zrlhXZBoS7Wyyl+FmrDwtwQHWHGq"}"#;
    assert_eq!(grant.to_json(), expected);

    let wallet = WalletKeyProvider::from_hex(&"11".repeat(32)).unwrap();
    assert_eq!(
        unwrap_dek(&grant, &wallet).unwrap().as_bytes(),
        dek().as_bytes()
    );
    let wallet = WalletKeyProvider::from_hex(&format!("0x{}", "11".repeat(32))).unwrap();
    assert_eq!(
        unwrap_dek(&grant, &wallet).unwrap().as_bytes(),
        dek().as_bytes()
    );
    // `eth-decrypt` is the same scheme under another id.
    let alias = Grant::parse(&expected.replace("ecies-secp256k1", "eth-decrypt")).unwrap();
    assert_eq!(
        unwrap_dek(&alias, &wallet).unwrap().as_bytes(),
        dek().as_bytes()
    );
}

#[test]
fn ecies_accepts_an_uncompressed_ephemeral_key() {
    let ephemeral = Secret32::new([0x22; 32]);
    let recipient_pub = wallet_public_key(&Secret32::new([0x11; 32])).unwrap();
    let grant = wallet_grant_from_parts(&recipient_pub, &dek(), &ephemeral, seq(0xb0)).unwrap();
    let sk = k256_uncompressed(&ephemeral);
    let text = grant.to_json().replace(
        "AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n",
        &b64::encode(&sk),
    );
    let wallet = WalletKeyProvider::from_hex(&"11".repeat(32)).unwrap();
    assert_eq!(
        unwrap_dek(&Grant::parse(&text).unwrap(), &wallet)
            .unwrap()
            .as_bytes(),
        dek().as_bytes()
    );
}

/// The uncompressed SEC1 encoding (65 bytes) of a secret's public key.
fn k256_uncompressed(secret: &Secret32) -> Vec<u8> {
    use k256::elliptic_curve::sec1::ToSec1Point;
    let pk = k256::SecretKey::from_slice(secret.as_bytes())
        .unwrap()
        .public_key();
    let bytes = pk.to_sec1_point(false).as_bytes().to_vec();
    assert_eq!(bytes.len(), 65);
    bytes
}

#[test]
fn db_v2_bundle_vector() {
    let key = Kdf::PBKDF2_DEFAULT
        .derive(b"pw", &seq::<16>(0), &KdfFloors::REFERENCE)
        .unwrap();
    assert_eq!(
        hex(key.as_bytes()),
        "c2485d435920504da9f44f0bded3e2369c571273260301da5df2dea3ed184f87"
    );
    let bundle =
        dbv2::seal_v2_with("pw", r#"{"sequence":0,"tables":[]}"#, &seq(0), seq(0)).unwrap();
    let expected = r#"{"v":2,"salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":[0,1,2,3,4,5,6,7,8,9,10,11],"data":[255,45,70,42,253,23,137,81,81,125,131,115,41,39,74,123,226,59,239,130,67,189,220,23,11,27,199,114,196,147,251,218,216,248,30,171,47,85,160,211,194,67]}"#;
    assert_eq!(bundle, expected);
    assert!(dbv2::is_v2_bundle(expected));
    assert_eq!(
        dbv2::open_v2("pw", expected).unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
    let wrong = dbv2::open_v2("px", expected).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "DecryptionFailed: DB bundle decryption failed"
    );
    let no_salt = expected.replace(r#""salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"#, "");
    assert_eq!(
        dbv2::open_v2("pw", &no_salt).unwrap_err().to_string(),
        "Unsupported FinVM DB bundle: missing key-derivation salt"
    );
}

#[test]
fn db_envelope_of_the_crypto_test_example_round_trips() {
    let plain = r#"{"sequence":1,"tables":[["t",[["rec0",{"id":"rec0","timestamp":0,"content":{"v":1}}]]]]}"#;
    let env = Envelope::seal(&dek(), Target::Db, plain.as_bytes());
    assert_eq!(env.aad.as_ref().and_then(|a| a.as_str()), Some("finvm:db"));
    assert_eq!(b64::decode(&env.iv).len(), 12);
    assert_eq!(b64::decode(&env.ct).len(), plain.len() + 16);
    assert_eq!(
        Envelope::parse(&env.to_json())
            .unwrap()
            .open(&dek())
            .unwrap(),
        plain
    );
}
