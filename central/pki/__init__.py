"""The device PKI: certificates, the broker's ACL, `lockernet pki`."""
