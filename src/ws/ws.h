/* userapi: WebSocket /ws: upgrade, limits, the broadcast bus over PostgreSQL, resume. */

#ifndef USERAPI_WS_H
#define USERAPI_WS_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct connection;
struct http_request;
struct db_query;

/* Close codes (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_ERROR		1011

/* A client's place in the stream of messages. */
#define WS_CLIENT_CATCHUP	0	/* reading the kept messages first */
#define WS_CLIENT_LIVE		1	/* gets what the bus delivers */
#define WS_CLIENT_CLOSING	2	/* close sent: reads and sends nothing */

/* A frame held for a client while it catches up. */
struct ws_held {
	TAILQ_ENTRY(ws_held)	 list;
	int64_t			 id;
	size_t			 len;
	char			 msg[];
};

/* A text waiting for the one ws_post in flight of its client. */
struct ws_post {
	TAILQ_ENTRY(ws_post)	 list;
	char			*json;		/* the text as a JSON string */
};

/* One connected socket; c->hdlr_extra points here. */
struct ws_client {
	TAILQ_ENTRY(ws_client)	 list;
	struct connection	*c;		/* NULL: gone, posts pending */
	char			 user[37];
	char			 tv[24];
	long			 exp;		/* the token's expiry */
	int			 state;		/* WS_CLIENT_* */
	int64_t			 sent;		/* highest id sent to it */
	double			 tokens;	/* rate limit bucket */
	uint64_t		 tokens_at;
	uint64_t		 close_at;	/* CLOSING: disconnect by then */
	struct db_query		*since_q;	/* catch-up page in flight */
	struct db_query		*post_q;	/* ws_post in flight */
	int			 post_n;	/* the posts it stores */
	TAILQ_HEAD(, ws_post)	 posts;
	int			 nposts;
	TAILQ_HEAD(, ws_held)	 held;
	size_t			 held_bytes;
	int			 reset_sent;
	int			 page_wait;	/* next page once it drained */
};

TAILQ_HEAD(ws_client_list, ws_client);

/* This worker's sockets. */
extern struct ws_client_list	ws_clients;

/* In the parent, before the workers fork: the instance-wide counters. */
void	ws_parent_init(void);

/* In each worker: the bus (LISTEN), the timers. */
void	ws_worker_init(void);

/* GET /ws (conf/userapi.conf). */
int	api_ws(struct http_request *);

/* Kore's WebSocket callbacks, by name from kore_websocket_handshake. */
void	ws_connect(struct connection *);
void	ws_message(struct connection *, u_int8_t, const void *, size_t);
void	ws_disconnect(struct connection *);

/* Close every socket of this worker with 1001 (for the drain). */
void	ws_shutdown(void);

/* Sockets open in the whole instance (all workers). */
int	ws_count(void);

/* ws.c: send, close. */
#define WS_FRAME_HDR_MAX	10
size_t	ws_text_header(u_int8_t *, size_t);
void	ws_send_text(struct ws_client *, const char *, size_t);
int	ws_send_frame(struct ws_client *, const u_int8_t *, size_t);
void	ws_close(struct ws_client *, int code, const char *reason);
size_t	ws_pending(struct ws_client *);

/* bus.c: the broadcast bus and resume. */
void	ws_bus_init(void);
int	ws_bus_ready(void);
int64_t	ws_bus_position(void);
void	ws_bus_post(struct ws_client *);
void	ws_bus_catchup(struct ws_client *);
void	ws_bus_tick(void);
void	ws_bus_catchup_stop(struct ws_client *);
void	ws_bus_drop_posts(struct ws_client *);
int	ws_bus_client_gone(struct ws_client *);

#endif
