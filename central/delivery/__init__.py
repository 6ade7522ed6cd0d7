"""Home delivery carried out: couriers' handheld tokens, the handheld API (/api/courier),
attempts at the door with their proofs, and the redirect of a parcel nobody took in."""
