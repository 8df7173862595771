/* userapi: checks TLS_CERT_FILE and TLS_KEY_FILE at start, in a child process, so the parent never holds the key. */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

static void	tls_check_files(const char *, const char *, char *, size_t);
static int	tls_no_passphrase(char *, int, int, void *);

/*
 * The workers are forked from the parent, so the parent must never read
 * the private key: the key manager alone does. A child process reads
 * both files, says what is wrong on a pipe and exits; its memory goes
 * with it. Returns 0 when the pair is usable, else -1 with err set.
 */
int
tls_check(const char *cert, const char *key, char *err, size_t errlen)
{
	pid_t		pid;
	ssize_t		n;
	size_t		off;
	int		pfd[2], status;
	char		msg[256];

	if (pipe(pfd) == -1) {
		(void)snprintf(err, errlen, "could not check TLS_KEY_FILE: "
		    "pipe: %s", strerror(errno));
		return (-1);
	}
	(void)fflush(NULL);
	if ((pid = fork()) == -1) {
		(void)snprintf(err, errlen, "could not check TLS_KEY_FILE: "
		    "fork: %s", strerror(errno));
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		return (-1);
	}
	if (pid == 0) {
		(void)close(pfd[0]);
		msg[0] = '\0';
		tls_check_files(cert, key, msg, sizeof(msg));
		if (msg[0] != '\0' && write(pfd[1], msg, strlen(msg)) == -1)
			_exit(2);
		_exit(msg[0] != '\0');
	}

	(void)close(pfd[1]);
	off = 0;
	while (off < errlen - 1 &&
	    (n = read(pfd[0], err + off, errlen - 1 - off)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	err[off] = '\0';
	(void)close(pfd[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			(void)snprintf(err, errlen, "could not check "
			    "TLS_KEY_FILE: waitpid: %s", strerror(errno));
			return (-1);
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return (0);
	if (off == 0)
		(void)snprintf(err, errlen, "could not check TLS_KEY_FILE: "
		    "the checking process failed");
	return (-1);
}

/* In the child: err stays empty when the pair is usable. */
static void
tls_check_files(const char *cert, const char *key, char *err, size_t errlen)
{
	FILE		*fp;
	X509		*x509;
	EVP_PKEY	*pkey;
	int		 type;

	if ((fp = fopen(cert, "r")) == NULL) {
		(void)snprintf(err, errlen, "invalid TLS_CERT_FILE: %.120s: %s",
		    cert, strerror(errno));
		return;
	}
	x509 = PEM_read_X509(fp, NULL, NULL, NULL);
	(void)fclose(fp);
	if (x509 == NULL) {
		(void)snprintf(err, errlen, "invalid TLS_CERT_FILE: "
		    "no PEM certificate in %.120s", cert);
		return;
	}
	type = EVP_PKEY_get_base_id(X509_get0_pubkey(x509));
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		(void)snprintf(err, errlen, "invalid TLS_CERT_FILE: "
		    "its key is neither RSA nor ECDSA");
		X509_free(x509);
		return;
	}

	if ((fp = fopen(key, "r")) == NULL) {
		(void)snprintf(err, errlen, "invalid TLS_KEY_FILE: %.120s: %s",
		    key, strerror(errno));
		X509_free(x509);
		return;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, tls_no_passphrase, NULL);
	(void)fclose(fp);
	if (pkey == NULL)
		(void)snprintf(err, errlen, "invalid TLS_KEY_FILE: no PEM "
		    "private key without a passphrase in %.120s", key);
	else if (X509_check_private_key(x509, pkey) != 1)
		(void)snprintf(err, errlen, "invalid TLS_KEY_FILE: "
		    "it is not the key of TLS_CERT_FILE's certificate");
	EVP_PKEY_free(pkey);
	X509_free(x509);
}

/* An encrypted key is refused at once instead of asking on a terminal. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return (0);
}
