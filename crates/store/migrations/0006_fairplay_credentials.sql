-- keyward-store schema, version 6: FairPlay Streaming credentials per site.
-- A site may hold several (old and new certificate side by side), each named by
-- the SHA-1 of its DER certificate (cert_hash), which a player's SPC carries.
-- The private key and the ASk are wrapped under the KEK; the AAD names the site,
-- the cert hash and which secret it is, so a wrapped value moved to another row
-- (or to the other column) fails. seq orders credentials added within one second.

CREATE TABLE fairplay_credentials (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    cert_hash   BLOB NOT NULL CHECK (length(cert_hash) = 20),
    cert_der    BLOB NOT NULL,
    key_wrapped BLOB NOT NULL,
    ask_wrapped BLOB NOT NULL,
    label       TEXT,
    created_at  INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (site_id, cert_hash)
);
