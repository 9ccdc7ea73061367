//! Payments over the wire: a gateway's batch through the `Livepeer-Payment` header to the
//! orchestrator, and refusal of malformed headers.

use livepeer_pm::payment::{decode_payment, decode_payment_header, encode_payment_header};
use livepeer_pm::{ExactWei, PmError};

use crate::support::{GWEI, net};

#[test]
fn batch_through_the_header_is_credited() {
    let n = net(8 * GWEI);
    let session = n.session();
    let batch = n.sender.create_ticket_batch(&session, 3).expect("batch");
    let header = encode_payment_header(&batch);
    let decoded = decode_payment_header(&header).expect("decodes");
    assert_eq!(decoded, batch);
    let got = n.recipient.receive_payment(&decoded).expect("accepted");
    assert_eq!(got.accepted, 3);
    assert_eq!(
        got.credit,
        batch.params.ev().checked_mul_u64(3).expect("mul")
    );
}

#[test]
fn empty_and_malformed_headers() {
    // An empty header is an empty payment (off-chain): nothing to credit.
    let n = net(8 * GWEI);
    let empty = decode_payment_header("").expect("empty payment");
    assert!(empty.sender_params.is_empty());
    let got = n.recipient.receive_payment(&empty).expect("nothing to do");
    assert_eq!(got.credit, ExactWei::ZERO);
    for bad in ["!!!", "AAA", "CgE="] {
        assert!(
            matches!(
                decode_payment_header(bad),
                Err(PmError::PaymentDecode { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        decode_payment(&[0x0a, 0x05, 0x01]),
        Err(PmError::PaymentDecode { .. })
    ));
}
