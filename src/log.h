/* userapi: log lines on stdout, as text or JSON (LOG_FORMAT). */

#ifndef USERAPI_LOG_H
#define USERAPI_LOG_H

#include <stddef.h>
#include <stdint.h>

/* With LOG_FORMAT=json, make every line on stdout JSON (Kore's too). */
void	log_setup(void);

void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_access(const char *method, const char *path, int status,
	    size_t bytes, uint64_t usec, const char *rid);

#endif
