/* userapi: the version string. */

#ifndef USERAPI_VERSION_H
#define USERAPI_VERSION_H

#define USERAPI_VERSION		"0.1.0"

#endif
