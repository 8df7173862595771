/* userapi: the user model and the validation of its inputs. */

#ifndef USERAPI_MODEL_USER_H
#define USERAPI_MODEL_USER_H

#include <stddef.h>

struct verrs;

#define USER_NAME_MIN		1	/* characters, after trimming */
#define USER_NAME_MAX		100
#define USER_PASSWORD_MIN	8	/* characters */
#define USER_PASSWORD_MAX	128
#define USER_AGE_MIN		0
#define USER_AGE_MAX		150
#define USER_EMAIL_MAX		254	/* bytes */
#define USER_EMAIL_LOCAL_MAX	64
#define UUID_STR_LEN		36

/* A user as the service returns it (never the password hash). */
struct user {
	char	 id[UUID_STR_LEN + 1];
	char	*name;
	char	*email;
	int	 age_null;
	int	 age;
	int	 is_active;
	int	 is_admin;
	long long created_us;		/* microseconds since 1970-01-01 UTC */
	long long updated_us;
	long long version;		/* ETag */
};

/* Which fields a user_input carries. */
#define USER_F_NAME		0x01
#define USER_F_EMAIL		0x02
#define USER_F_AGE		0x04
#define USER_F_PASSWORD		0x08
#define USER_F_IS_ACTIVE	0x10
#define USER_F_IS_ADMIN		0x20

/* What a body may hold, per operation. */
#define USER_INPUT_CREATE	1	/* POST /users */
#define USER_INPUT_REPLACE	2	/* PUT /users/{id} */
#define USER_INPUT_PATCH	3	/* PATCH /users/{id} */

struct user_input {
	unsigned int	 fields;	/* USER_F_* present in the body */
	char		*name;		/* trimmed */
	char		*email;		/* domain lower-cased */
	int		 age_null;
	int		 age;
	char		*password;
	int		 is_active;
	int		 is_admin;
};

/*
 * Free the strings a struct holds and set them to NULL (the struct itself
 * belongs to the caller); safe to call twice or on a zeroed struct.
 * user_input_free wipes the password before freeing it.
 */
void	user_free(struct user *);
void	user_input_free(struct user_input *);

/*
 * Value checks. Each returns 0, or -1 after appending its errors to errs
 * with loc ("body", field). The output strings are malloc'd.
 */
int	model_user_name(const char *in, char **out, struct verrs *errs);
int	model_user_email(const char *in, char **out, struct verrs *errs);
int	model_user_age(long long in, struct verrs *errs);
int	model_user_password(const char *in, const char *field,
	    struct verrs *errs);

/* E-mail syntax as pydantic's EmailStr; normalised copy in out (abort on OOM). */
int	model_email_valid(const char *in, char **out, const char **why);

/* Number of UTF-8 characters in s (s is valid UTF-8). */
size_t	model_utf8_len(const char *s);

/* Canonical lower-case UUID from a 36- or 32-hex-digit string; 0 or -1. */
int	model_uuid_parse(const char *in, char out[UUID_STR_LEN + 1]);

#endif
