//! Tickets and their parameters, the 232-byte hash preimage, the win check and the expected
//! value (pm.md §1, §3.3, §4).

use alloy_primitives::{Address, B256, U256, keccak256};
use serde::Serialize;

use crate::{ExactWei, PricePerPixel};

/// Length of the ticket-hash preimage with 64-byte auxData (pm.md §1.3).
pub const TICKET_PREIMAGE_LEN: usize = 232;

/// Length of the ticket-hash preimage when auxData is empty (legacy, not redeemable).
pub const TICKET_PREIMAGE_LEN_NO_AUX: usize = 168;

/// The round a ticket was created in and that round's L1 block hash (go-livepeer
/// `pm/ticket.go:TicketExpirationParams`, wire `net.TicketExpirationParams`).
///
/// They form the ticket's auxData; the TicketBroker only redeems a ticket while
/// `creation_round + ticketValidityPeriod > currentRound` and the hash matches
/// `RoundsManager.blockHashForRound(creation_round)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TicketExpirationParams {
    /// The creation round (go `int64`; negative rounds are refused when decoding).
    pub creation_round: u64,
    /// `blockHashForRound(creation_round)`.
    pub creation_round_block_hash: B256,
}

impl TicketExpirationParams {
    /// True when both fields are zero: auxData is then empty (pm.md §1.2), and a gateway fills in
    /// its own round (go-livepeer `pm/sender.go:CreateTicketBatch`).
    pub fn is_zero(&self) -> bool {
        self.creation_round == 0 && self.creation_round_block_hash.is_zero()
    }

    /// True when either field is zero, the case where go's gateway substitutes its own round
    /// and hash ("backwards compatibility" in go-livepeer `pm/sender.go:CreateTicketBatch`).
    pub fn is_incomplete(&self) -> bool {
        self.creation_round == 0 || self.creation_round_block_hash.is_zero()
    }

    /// auxData: `u256(creation_round) ‖ creation_round_block_hash` (64 bytes), or nothing when
    /// both are zero (see go-livepeer `pm/ticket.go:AuxData`; contract
    /// `MixinTicketProcessor.sol:getCreationRoundAndBlockHash`).
    pub fn aux_data(&self) -> AuxData {
        if self.is_zero() {
            return AuxData {
                bytes: [0; 64],
                len: 0,
            };
        }
        let mut bytes = [0u8; 64];
        bytes[24..32].copy_from_slice(&self.creation_round.to_be_bytes());
        bytes[32..].copy_from_slice(self.creation_round_block_hash.as_slice());
        AuxData { bytes, len: 64 }
    }
}

/// A ticket's auxData: 64 bytes, or empty (see [`TicketExpirationParams::aux_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxData {
    bytes: [u8; 64],
    len: usize,
}

impl AuxData {
    /// The bytes (0 or 64 of them).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The parameters an orchestrator hands a gateway in `OrchestratorInfo.ticket_params`
/// (go-livepeer `pm/ticket.go:TicketParams`, wire `net.TicketParams`).
///
/// Every ticket of a session shares them; the gateway must echo them unchanged, because
/// `seed`, `face_value`, `win_prob`, `expiration_block`, the price and the expiration params
/// all feed the recipientRand HMAC (pm.md §3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TicketParams {
    /// The orchestrator's ETH address.
    pub recipient: Address,
    /// Wei paid if a ticket wins.
    pub face_value: U256,
    /// Win threshold: a ticket wins when its win value is below it (pm.md §4).
    pub win_prob: U256,
    /// `keccak256(u256(recipientRand))`, the orchestrator's commitment.
    pub recipient_rand_hash: B256,
    /// Public random seed (on the wire as minimal big-endian bytes).
    pub seed: U256,
    /// L1 block from which these parameters are expired.
    pub expiration_block: U256,
    /// Creation round and block hash (`TicketParams.expiration_params` in `OrchestratorInfo`).
    pub expiration_params: TicketExpirationParams,
}

impl TicketParams {
    /// The expected value of a ticket made from these parameters, exact.
    pub fn ev(&self) -> ExactWei {
        ExactWei::ticket_ev(self.face_value, self.win_prob)
    }

    /// The gateway's session id for these parameters: recipientRandHash as 0x-hex, lower case
    /// (go-livepeer `pm/sender.go:StartSession`).
    pub fn session_id(&self) -> String {
        format!("{:#x}", self.recipient_rand_hash)
    }
}

/// What a gateway adds per ticket (go-livepeer `pm/ticket.go:TicketSenderParams`, wire
/// `net.TicketSenderParams`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TicketSenderParams {
    /// Per-session counter, starting at 1.
    pub sender_nonce: u32,
    /// Signature as received: 65 bytes `r ‖ s ‖ v` when valid (checked on validation, so a
    /// wrong length is a per-ticket, non-fatal error as in go).
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub sig: Vec<u8>,
}

/// A probabilistic micropayment ticket (go-livepeer `pm/ticket.go:Ticket`; contract
/// `MTicketBrokerCore.sol:Ticket` plus the unhashed fields bound through recipientRand).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Ticket {
    /// The orchestrator paid if the ticket wins.
    pub recipient: Address,
    /// The gateway; must be the signer.
    pub sender: Address,
    /// Wei paid if the ticket wins.
    pub face_value: U256,
    /// Win threshold over 2^256.
    pub win_prob: U256,
    /// Unique per recipientRandHash (uint256 on chain, uint32 in go and on the wire).
    pub sender_nonce: u32,
    /// The orchestrator's commitment to recipientRand.
    pub recipient_rand_hash: B256,
    /// Creation round and block hash (auxData).
    pub expiration_params: TicketExpirationParams,
    /// `TicketParams.expiration_block` (not hashed; bound through recipientRand).
    pub params_expiration_block: U256,
    /// Price the parameters were issued for (not hashed; bound through recipientRand).
    pub price_per_pixel: PricePerPixel,
}

impl Ticket {
    /// The ticket a gateway makes from a session's parameters (go-livepeer `pm/ticket.go:NewTicket`).
    pub fn new(
        params: &TicketParams,
        expiration_params: TicketExpirationParams,
        sender: Address,
        sender_nonce: u32,
        price_per_pixel: PricePerPixel,
    ) -> Self {
        Self {
            recipient: params.recipient,
            sender,
            face_value: params.face_value,
            win_prob: params.win_prob,
            sender_nonce,
            recipient_rand_hash: params.recipient_rand_hash,
            expiration_params,
            params_expiration_block: params.expiration_block,
            price_per_pixel,
        }
    }

    /// auxData of this ticket (64 bytes, or empty when round and block hash are both zero).
    pub fn aux_data(&self) -> AuxData {
        self.expiration_params.aux_data()
    }

    /// Writes the `abi.encodePacked` hash preimage into `out` and returns its length: 232 bytes,
    /// or 168 with empty auxData (pm.md §1.3; go-livepeer `pm/ticket.go:flatten`; contract
    /// `MixinTicketBrokerCore.sol:getTicketHash`).
    pub fn write_preimage(&self, out: &mut [u8; TICKET_PREIMAGE_LEN]) -> usize {
        out[0..20].copy_from_slice(self.recipient.as_slice());
        out[20..40].copy_from_slice(self.sender.as_slice());
        out[40..72].copy_from_slice(&self.face_value.to_be_bytes::<32>());
        out[72..104].copy_from_slice(&self.win_prob.to_be_bytes::<32>());
        out[104..132].fill(0);
        out[132..136].copy_from_slice(&self.sender_nonce.to_be_bytes());
        out[136..168].copy_from_slice(self.recipient_rand_hash.as_slice());
        let aux = self.aux_data();
        let aux = aux.as_slice();
        out[168..168 + aux.len()].copy_from_slice(aux);
        TICKET_PREIMAGE_LEN_NO_AUX + aux.len()
    }

    /// The hash preimage as a vector (232 or 168 bytes).
    pub fn preimage(&self) -> Vec<u8> {
        let mut buf = [0u8; TICKET_PREIMAGE_LEN];
        let len = self.write_preimage(&mut buf);
        buf[..len].to_vec()
    }

    /// The ticket hash, `keccak256(preimage)`: what the gateway signs and what the contract's
    /// `usedTickets` is keyed by.
    pub fn hash(&self) -> B256 {
        let mut buf = [0u8; TICKET_PREIMAGE_LEN];
        let len = self.write_preimage(&mut buf);
        keccak256(&buf[..len])
    }

    /// The exact expected value `faceValue * winProb / (2^256 - 1)` in wei.
    pub fn ev(&self) -> ExactWei {
        ExactWei::ticket_ev(self.face_value, self.win_prob)
    }
}

/// `keccak256(u256(recipient_rand))`, the commitment an orchestrator publishes (pm.md §3.3).
pub fn recipient_rand_hash(recipient_rand: U256) -> B256 {
    keccak256(recipient_rand.to_be_bytes::<32>())
}

/// The win value `uint256(keccak256(sig ‖ u256(recipient_rand)))` (pm.md §4.1; go-livepeer
/// `pm/validator.go:IsWinningTicket`; contract `isWinningTicket`). `sig` is used exactly as
/// sent; it is 65 bytes for any ticket that passed validation.
pub fn win_value(sig: &[u8], recipient_rand: U256) -> U256 {
    let mut buf = [0u8; 65 + 32];
    let digest = if sig.len() == 65 {
        buf[..65].copy_from_slice(sig);
        buf[65..].copy_from_slice(&recipient_rand.to_be_bytes::<32>());
        keccak256(buf)
    } else {
        let mut v = Vec::with_capacity(sig.len() + 32);
        v.extend_from_slice(sig);
        v.extend_from_slice(&recipient_rand.to_be_bytes::<32>());
        keccak256(v)
    };
    U256::from_be_bytes(digest.0)
}

/// True when the ticket wins: `win_value(sig, recipient_rand) < win_prob` (strict).
pub fn is_winning_ticket(sig: &[u8], recipient_rand: U256, win_prob: U256) -> bool {
    win_value(sig, recipient_rand) < win_prob
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> B256 {
        s.parse().expect("valid hash literal")
    }

    #[test]
    fn aux_data_cases_of_go_ticket_test() {
        // go-livepeer pm/ticket_test.go:TestAuxData: the four cases.
        let hash = h("0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
        let cases = [
            (0, hash, 64),
            (5, B256::ZERO, 64),
            (0, B256::ZERO, 0),
            (5, hash, 64),
        ];
        for (round, block_hash, len) in cases {
            let p = TicketExpirationParams {
                creation_round: round,
                creation_round_block_hash: block_hash,
            };
            let aux = p.aux_data();
            assert_eq!(aux.as_slice().len(), len, "round {round}");
            if len == 64 {
                assert_eq!(
                    U256::from_be_slice(&aux.as_slice()[..32]),
                    U256::from(round)
                );
                assert_eq!(&aux.as_slice()[32..], block_hash.as_slice());
            }
        }
    }

    fn zero_ticket() -> Ticket {
        Ticket {
            recipient: Address::ZERO,
            sender: Address::ZERO,
            face_value: U256::ZERO,
            win_prob: U256::ZERO,
            sender_nonce: 0,
            recipient_rand_hash: B256::ZERO,
            expiration_params: TicketExpirationParams::default(),
            params_expiration_block: U256::ZERO,
            price_per_pixel: PricePerPixel::ZERO,
        }
    }

    #[test]
    fn hashes_of_go_ticket_test() {
        // go-livepeer pm/ticket_test.go:TestHash, the seven fixed hashes (pm.md §10.4).
        let rrh = h("0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
        let recipient: Address = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"
            .parse()
            .expect("valid address literal");
        let cases: Vec<(Ticket, &str)> = vec![
            (
                Ticket {
                    sender_nonce: u32::MAX,
                    ..zero_ticket()
                },
                "e1393fc7",
            ),
            (
                Ticket {
                    sender_nonce: 1,
                    ..zero_ticket()
                },
                "ce0918ba",
            ),
            (
                Ticket {
                    face_value: U256::from(1),
                    win_prob: U256::from(500),
                    ..zero_ticket()
                },
                "87ef13f2",
            ),
            (
                Ticket {
                    face_value: U256::from(500),
                    win_prob: U256::from(1),
                    ..zero_ticket()
                },
                "aa4b3507",
            ),
            (
                Ticket {
                    recipient,
                    ..zero_ticket()
                },
                "81e353ae",
            ),
            (
                Ticket {
                    recipient_rand_hash: rrh,
                    ..zero_ticket()
                },
                "be5eaf9a",
            ),
            (
                Ticket {
                    expiration_params: TicketExpirationParams {
                        creation_round: 10,
                        creation_round_block_hash: rrh,
                    },
                    ..zero_ticket()
                },
                "e502907c",
            ),
        ];
        for (i, (ticket, prefix)) in cases.iter().enumerate() {
            let expected_len = if i < 6 { 168 } else { 232 };
            assert_eq!(ticket.preimage().len(), expected_len, "case {i}");
            assert!(
                hex::encode(ticket.hash()).starts_with(prefix),
                "case {i}: {} does not start with {prefix}",
                ticket.hash()
            );
        }
    }

    #[test]
    fn win_check_is_strict() {
        let sig = [7u8; 65];
        let rand = U256::from(42);
        let v = win_value(&sig, rand);
        assert!(!is_winning_ticket(&sig, rand, v));
        assert!(is_winning_ticket(&sig, rand, v + U256::from(1)));
        assert!(!is_winning_ticket(&sig, rand, U256::ZERO));
    }
}
