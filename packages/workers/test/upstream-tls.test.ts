/**
 * How a failed TLS connection to an endpoint is named and classified: the reason a connect failure
 * carries (OpenSSL's long messages cut down to their reason), and which errors after a completed
 * handshake mean the endpoint refused the connection.
 */
import { describe, expect, it } from 'vitest';
import { isTlsAlert, refusedAfterHandshake, tlsFailureReason } from '../src/upstream/upstream-tls.js';

describe('tlsFailureReason', () => {
  it("keeps Node's certificate verification messages as they are", () => {
    expect(tlsFailureReason(new Error('self-signed certificate in chain'))).toBe('tls: self-signed certificate in chain');
    expect(tlsFailureReason(new Error('unable to verify the first certificate'))).toBe('tls: unable to verify the first certificate');
    expect(tlsFailureReason(new Error("Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal"))).toBe(
      "tls: Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal",
    );
    expect(tlsFailureReason(new Error('upstream certificate SANs (URI:spiffe://cluster.local/ns/default/sa/api) match none of allowed_sans'))).toBe(
      'tls: upstream certificate SANs (URI:spiffe://cluster.local/ns/default/sa/api) match none of allowed_sans',
    );
  });

  it("cuts OpenSSL's error strings down to the reason", () => {
    const alert =
      '807C67838D7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n';
    expect(tlsFailureReason(new Error(alert))).toBe('tls: tlsv13 alert certificate required');
    const handshake = '80DC4197E87F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 40\n';
    expect(tlsFailureReason(new Error(handshake))).toBe('tls: sslv3 alert handshake failure');
    const version = '40B8D1E2C27F0000:error:0A00042E:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:SSL alert number 70\n';
    expect(tlsFailureReason(new Error(version))).toBe('tls: tlsv1 alert protocol version');
  });

  it('keeps a message that only looks partly like OpenSSL', () => {
    expect(tlsFailureReason(new Error('error:0A00045C:SSL routines'))).toBe('tls: error:0A00045C:SSL routines');
    expect(tlsFailureReason(new Error('  Client network socket disconnected before secure TLS connection was established '))).toBe(
      'tls: Client network socket disconnected before secure TLS connection was established',
    );
  });
});

describe('refusal after the handshake', () => {
  it('is a TLS alert before any application byte', () => {
    expect(isTlsAlert({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' })).toBe(true);
    expect(isTlsAlert({ code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' })).toBe(true);
    expect(isTlsAlert({ code: 'ECONNRESET' })).toBe(false);
    expect(isTlsAlert({})).toBe(false);
    expect(refusedAfterHandshake({ bytesRead: 0 }, { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' })).toBe(true);
    expect(refusedAfterHandshake({ bytesRead: 17 }, { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' })).toBe(false);
    expect(refusedAfterHandshake({ bytesRead: 0 }, { code: 'ECONNRESET' })).toBe(false);
  });
});
