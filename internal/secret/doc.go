// Package secret generates, parses and stores the secrets keyward issues,
// and hashes passwords.
//
// # Secret format
//
// Every secret is a kind prefix, a random body and a checksum:
//
//	kwk_ + 43 base62 body characters + 6 base62 checksum characters
//
// The prefix is three lowercase letters and an underscore; underscore is not
// a base62 character, so random text can never produce a prefix. The body is
// drawn uniformly from crypto/rand with rejection sampling; 43 base62
// characters carry 256 bits. The checksum is the CRC-32 (IEEE) of prefix and
// body, written in base62 (0-9, A-Z, a-z, most significant digit first) and
// left-padded with '0' to six characters. A secret is 53 characters long.
//
// The kinds and the regular expressions their generated values match:
//
//	API key                 ^kwk_[0-9A-Za-z]{49}$
//	personal access token   ^kwp_[0-9A-Za-z]{49}$
//	operator token          ^kwo_[0-9A-Za-z]{49}$
//	merchant API auth key   ^kwm_[0-9A-Za-z]{49}$
//	web session id          ^kws_[0-9A-Za-z]{49}$
//
// [Parse] also accepts longer bodies, so the length can grow without a
// format change: a known prefix followed by 49 to 251 base62 characters
// (255 bytes in all), of which the last six are the checksum of the rest.
// The checksum lets Parse reject mistyped and truncated secrets, and any
// single changed character, without a database lookup.
//
// # Storage
//
// A secret is shown once, when it is created. Afterwards only its [Digest]
// (SHA-256 of the whole secret, used to look it up) and its [Hint] (prefix
// and last four characters) are kept. An unsalted fast hash is enough here
// because the secrets carry 256 random bits and cannot be guessed.
//
// # Passwords
//
// [HashPassword] uses argon2id with m=19456 KiB, t=2, p=1, a 16-byte salt and
// a 32-byte key, encoded as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. At most four hashes run at
// once, which bounds their memory to about 76 MiB.
package secret
