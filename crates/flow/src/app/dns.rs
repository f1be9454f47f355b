//! DNS: the first question's name of a query or response (RFC 1035 §4.1).

/// Longest name accepted (RFC 1035: 255 octets).
const MAX_NAME: usize = 255;

/// The name of the first question, if the message has one and it is complete.
pub fn query_name(msg: &[u8]) -> Option<String> {
    if msg.len() < 12 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount == 0 {
        return None;
    }
    let mut name: Vec<u8> = Vec::with_capacity(64);
    let mut pos = 12;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => break,
            l if l & 0xC0 == 0xC0 => {
                // Compression pointer (rare in a question, but legal).
                let target = ((l & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
                jumps += 1;
                if jumps > 16 || target >= msg.len() {
                    return None;
                }
                pos = target;
            }
            l if l & 0xC0 != 0 => return None,
            l => {
                let label = msg.get(pos + 1..pos + 1 + l)?;
                if !name.is_empty() {
                    name.push(b'.');
                }
                name.extend_from_slice(label);
                if name.len() > MAX_NAME {
                    return None;
                }
                pos += 1 + l;
            }
        }
    }
    if name.is_empty() {
        // The root: tshark writes "<Root>".
        return Some("<Root>".into());
    }
    Some(super::printable(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_question_name_of_a_query() {
        let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(query_name(&m).as_deref(), Some("www.example.com"));
    }

    #[test]
    fn a_cut_message_or_a_loop_gives_nothing() {
        let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07exa");
        assert_eq!(query_name(&m), None);
        let looped = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12];
        assert_eq!(query_name(&looped), None);
    }
}
