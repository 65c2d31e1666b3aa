/** TLS logic without sockets: who a verified peer is, what is forwarded about it, and the SNI a client asks for. */
export { identityOf, parseSubjectAltName, sanMatches, sansAllowed, subjectField, type CertificateFields, type PeerIdentity } from './identity.js';
export { FORWARD_CLIENT_CERT_MODES, XFCC, applyXfcc, xfccElement, type ForwardClientCertMode } from './xfcc.js';
export {
  CLIENT_HELLO,
  MAX_CLIENT_HELLO_BYTES,
  NEED_MORE,
  NOT_TLS,
  readClientHello,
  serverNameMatches,
  type ClientHelloResult,
} from './client-hello.js';
