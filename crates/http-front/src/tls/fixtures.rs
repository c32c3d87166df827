//! Certificates for the tests of [`super`], made by this script with OpenSSL 3 (EC P-256,
//! valid for 100 years from December 2026):
//!
//! ```sh
//! set -e
//! ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
//! printf 'basicConstraints=critical,CA:TRUE\n' > ca.ext
//! printf 'subjectAltName=DNS:localhost\n' > server.ext
//! printf 'extendedKeyUsage=clientAuth\n' > client.ext
//! openssl req -x509 $ec -days 36500 -subj "/CN=fixture root" -keyout root.key -out root.crt
//! openssl req $ec -subj "/CN=fixture middle" -keyout middle.key -out middle.csr
//! openssl x509 -req -in middle.csr -CA root.crt -CAkey root.key -set_serial 2 -days 36500 \
//!     -extfile ca.ext -out middle.crt
//! openssl req $ec -subj "/CN=localhost" -keyout server.key -out server.csr
//! openssl x509 -req -in server.csr -CA root.crt -CAkey root.key -set_serial 3 -days 36500 \
//!     -extfile server.ext -out server.crt
//! openssl req $ec -subj "/CN=alice" -keyout alice.key -out alice.csr
//! openssl x509 -req -in alice.csr -CA root.crt -CAkey root.key -set_serial 4 -days 36500 \
//!     -extfile client.ext -out alice.crt
//! openssl req $ec -subj "/CN=bob" -keyout bob.key -out bob.csr
//! openssl x509 -req -in bob.csr -CA middle.crt -CAkey middle.key -set_serial 5 -days 36500 \
//!     -extfile client.ext -out bob.crt
//! openssl req -x509 $ec -days 36500 -subj "/CN=selfie" -keyout selfie.key -out selfie.crt
//! openssl req -x509 $ec -days 36500 -subj "/CN=server only" \
//!     -addext extendedKeyUsage=serverAuth -keyout serveronly.key -out serveronly.crt
//! ```

/// The authority: self-signed, `CN=fixture root`.
pub(super) const ROOT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBhTCCASugAwIBAgIUNzZqzfqFmKUe+fmTc0m36LlKy64wCgYIKoZIzj0EAwIw\n\
FzEVMBMGA1UEAwwMZml4dHVyZSByb290MCAXDTI2MTIwMjA0NDcwN1oYDzIxMjYx\n\
MTA4MDQ0NzA3WjAXMRUwEwYDVQQDDAxmaXh0dXJlIHJvb3QwWTATBgcqhkjOPQIB\n\
BggqhkjOPQMBBwNCAATOfYemy/+eLoeo1lThYvwpX2y4hOnAMSlYp4/uEakIIIcU\n\
QoFFHTcez5AQtR6l0oAruNIc1OltAyPv2h39cJzfo1MwUTAdBgNVHQ4EFgQULUU1\n\
jJF2/Bq/1KhF+CNmBAyflIswHwYDVR0jBBgwFoAULUU1jJF2/Bq/1KhF+CNmBAyf\n\
lIswDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAohxg23PdgHXH\n\
OwNTymbM1vQZTv7+EH5i/LryIYqR1N0CIGLywr70roNZfdRreM7Kns74TDvlKetg\n\
heF/XYO+drKn\n\
-----END CERTIFICATE-----\n";

/// Its key (a key no client certificate here holds).
pub(super) const ROOT_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgREdVJV2XSJlhS59M\n\
l21qLu4aMCjiB9ZAdHbPhiLj8oGhRANCAATOfYemy/+eLoeo1lThYvwpX2y4hOnA\n\
MSlYp4/uEakIIIcUQoFFHTcez5AQtR6l0oAruNIc1OltAyPv2h39cJzf\n\
-----END PRIVATE KEY-----\n";

/// An intermediate authority the root signed, `CN=fixture middle`.
pub(super) const MIDDLE: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBczCCARqgAwIBAgIBAjAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxmaXh0dXJl\n\
IHJvb3QwIBcNMjYxMjAyMDQ0NzA3WhgPMjEyNjExMDgwNDQ3MDdaMBkxFzAVBgNV\n\
BAMMDmZpeHR1cmUgbWlkZGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsozl\n\
dRB65gkFxzIePmWSxm1dpI+tnzu1/f4UftoggOiD2YOstvPwxk4Sp0zhiB/4lGsA\n\
mIgK+5OGTqLSR/6yy6NTMFEwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUB0Cp\n\
8s6e+54U6dwHO376XNNgZrQwHwYDVR0jBBgwFoAULUU1jJF2/Bq/1KhF+CNmBAyf\n\
lIswCgYIKoZIzj0EAwIDRwAwRAIgccLSorqqcbPsv3/kAhTee0NgK+NHU/QylpUo\n\
uoKMatACIB+PPY2tFnjca7Jmuoe3shg20e6wQGkA6xwtWq+rYUT8\n\
-----END CERTIFICATE-----\n";

/// The server's certificate, for `localhost`, from the root.
pub(super) const SERVER: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBdTCCARqgAwIBAgIBAzAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxmaXh0dXJl\n\
IHJvb3QwIBcNMjYxMjAyMDQ0NzA3WhgPMjEyNjExMDgwNDQ3MDdaMBQxEjAQBgNV\n\
BAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFEnyyWgtl9R\n\
lXqJYkvvtMAZY2/dA0o9zoG7zXidGbHrlE+LL0Yxi86QNLwxIn73QfDvlJSzDI0h\n\
dhbBBDWWzn6jWDBWMBQGA1UdEQQNMAuCCWxvY2FsaG9zdDAdBgNVHQ4EFgQUyAMK\n\
CbP75WKAArEA3qsYlPYAOUwwHwYDVR0jBBgwFoAULUU1jJF2/Bq/1KhF+CNmBAyf\n\
lIswCgYIKoZIzj0EAwIDSQAwRgIhANiT9TMtsyjVvGfqyR78UR2Iossz24v77ZxE\n\
Zb5a22aAAiEA+GA0Y9P2kMccBUKPnjySS2sa3tAN8/4FBIU3q8P3leU=\n\
-----END CERTIFICATE-----\n";

/// Its key.
pub(super) const SERVER_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgj1Gh6SBppX96/hMs\n\
vcBDwtJYC0QzSb1H2mczLaLntPqhRANCAARRJ8sloLZfUZV6iWJL77TAGWNv3QNK\n\
Pc6Bu814nRmx65RPiy9GMYvOkDS8MSJ+90Hw75SUswyNIXYWwQQ1ls5+\n\
-----END PRIVATE KEY-----\n";

/// A client certificate from the root, `CN=alice`.
pub(super) const ALICE: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBbzCCARWgAwIBAgIBBDAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxmaXh0dXJl\n\
IHJvb3QwIBcNMjYxMjAyMDQ0NzA3WhgPMjEyNjExMDgwNDQ3MDdaMBAxDjAMBgNV\n\
BAMMBWFsaWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBnsLz5RQAgEsmyVn\n\
BRKhz3NUP7C8dh0ZyvjF5ochgdrxzsZ0Ee2P+Ra8tPayc/z5Xk1+/wmo+pHS82cu\n\
aUQpu6NXMFUwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFGTrYX+4Eial\n\
MX4yXQr1OmmDy19GMB8GA1UdIwQYMBaAFC1FNYyRdvwav9SoRfgjZgQMn5SLMAoG\n\
CCqGSM49BAMCA0gAMEUCIQDGLDpTJhxCRZ37ZJ+oG0rLIbc7kH5YCJZHIjePrMts\n\
SQIgNNBQs+oVl6ZoLuQ81AzKK5LFIWJVr353TKQPvBz8GbQ=\n\
-----END CERTIFICATE-----\n";

/// Its key.
pub(super) const ALICE_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg491E2SAF1v58iPpd\n\
Q2fTNmNKO1PnWEapzGc1XrhnieahRANCAAQGewvPlFACASybJWcFEqHPc1Q/sLx2\n\
HRnK+MXmhyGB2vHOxnQR7Y/5Fry09rJz/PleTX7/Caj6kdLzZy5pRCm7\n\
-----END PRIVATE KEY-----\n";

/// A client certificate from the intermediate, `CN=bob`.
pub(super) const BOB: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBcDCCARWgAwIBAgIBBTAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5maXh0dXJl\n\
IG1pZGRsZTAgFw0yNjEyMDIwNDQ3MDdaGA8yMTI2MTEwODA0NDcwN1owDjEMMAoG\n\
A1UEAwwDYm9iMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEif8R+yU7hlA4skZo\n\
/F8d2bY6JsAKHyT8mU1Z2HQGGkAIrwwfha2aBsFmOK9in6uTwp/ELuvnm5YthiBL\n\
vTPE2aNXMFUwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFIFIguKstuBE\n\
GajQu7DhjHc8hcWiMB8GA1UdIwQYMBaAFAdAqfLOnvueFOncBzt++lzTYGa0MAoG\n\
CCqGSM49BAMCA0kAMEYCIQD7LW7p8gVw5gtlD9ZVBQPbKGTPN71vlOvl5/w2Rzh4\n\
RAIhAJYYyMHvbeUGTTNiNbpfVxO+aTKCEj1K4aJgVcnrgHRE\n\
-----END CERTIFICATE-----\n";

/// Its key.
pub(super) const BOB_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjc+30WFrC0CiL17J\n\
Rt4YJyZbtj5QHBH+Y3bvz3P1VoWhRANCAASJ/xH7JTuGUDiyRmj8Xx3ZtjomwAof\n\
JPyZTVnYdAYaQAivDB+FrZoGwWY4r2Kfq5PCn8Qu6+ebli2GIEu9M8TZ\n\
-----END PRIVATE KEY-----\n";

/// A self-signed client certificate, `CN=selfie` (with `CA:TRUE`, as `openssl req -x509` makes them).
pub(super) const SELFIE: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBeTCCAR+gAwIBAgIUSCwrFn6Je3nxSByUol/fU+ztM94wCgYIKoZIzj0EAwIw\n\
ETEPMA0GA1UEAwwGc2VsZmllMCAXDTI2MTIwMjA0NDcwN1oYDzIxMjYxMTA4MDQ0\n\
NzA3WjARMQ8wDQYDVQQDDAZzZWxmaWUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n\
AAT9/LYy5Nx8kiNMiYTKM8Ff0Dh1E5Cu25H1UXWMIfTvLNu1I+8a5GJHDJWWZGOg\n\
/KZoDGmQDcrcbKtyF3jtXVHMo1MwUTAdBgNVHQ4EFgQUNkrtljYYeTb6RBFCXEtq\n\
/77+/wIwHwYDVR0jBBgwFoAUNkrtljYYeTb6RBFCXEtq/77+/wIwDwYDVR0TAQH/\n\
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBvNfxzH9o0lIgs7DRUWiFOZnrdTdez\n\
W5oZ2+PKha1T1AIhALIn3d9/6pM5mHZIwhXcjSXROdXGDD0bs0PE/jKz1iZK\n\
-----END CERTIFICATE-----\n";

/// Its key.
pub(super) const SELFIE_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGSsOzCOJKeyN7AKl\n\
xsoJ3PcAQcYLYqu1ocfVRuIqgHyhRANCAAT9/LYy5Nx8kiNMiYTKM8Ff0Dh1E5Cu\n\
25H1UXWMIfTvLNu1I+8a5GJHDJWWZGOg/KZoDGmQDcrcbKtyF3jtXVHM\n\
-----END PRIVATE KEY-----\n";

/// A self-signed certificate for servers only (`extendedKeyUsage=serverAuth`).
pub(super) const SERVER_ONLY: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBmDCCAT6gAwIBAgIURySrih5FPoeS0E0roKqx5Q2BU7EwCgYIKoZIzj0EAwIw\n\
FjEUMBIGA1UEAwwLc2VydmVyIG9ubHkwIBcNMjYxMjAyMDQ0NzA3WhgPMjEyNjEx\n\
MDgwNDQ3MDdaMBYxFDASBgNVBAMMC3NlcnZlciBvbmx5MFkwEwYHKoZIzj0CAQYI\n\
KoZIzj0DAQcDQgAE0PyLLnF6Y5SNUUw2KOsR+URg+6oEbUG9JtzCmZEkXBweW2oR\n\
aIqrQh5RzebNRnXL53/czSlDYv+jSGbhqHTWFaNoMGYwHQYDVR0OBBYEFAyWZLvO\n\
L/OibTvpDRwiI1SGto9zMB8GA1UdIwQYMBaAFAyWZLvOL/OibTvpDRwiI1SGto9z\n\
MA8GA1UdEwEB/wQFMAMBAf8wEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0E\n\
AwIDSAAwRQIhAPd56ws6d0jyWyUHet+dVGpy6YyjPY13+GJHKG3Nb6wSAiBybMZ0\n\
JVQa0/SHnoEiIGKbCxncHk2ASP/cyvPWECvYTA==\n\
-----END CERTIFICATE-----\n";

/// Its key.
pub(super) const SERVER_ONLY_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBbN4zEycEqd9PDce\n\
iRH7swfMC7M7m6GRoQ6fnvrLRGihRANCAATQ/IsucXpjlI1RTDYo6xH5RGD7qgRt\n\
Qb0m3MKZkSRcHB5bahFoiqtCHlHN5s1Gdcvnf9zNKUNi/6NIZuGodNYV\n\
-----END PRIVATE KEY-----\n";
