/* gturret.http._fastpath: one plain-TCP HTTP/1.1 exchange in one call, for the common case.
 *
 * Why C: in Python, a kept-alive GET spent more time in the interpreter than in the
 * kernel: gevent's send and recv wrappers, llhttp's four callbacks into Python, two
 * getters, the head sliced out. Here the request goes out, the loop is waited on
 * (the caller's ``wait(watcher)``, gevent's hub), one read comes in, and a response
 * that is complete in it and plainly framed is read without a Python call.
 *
 * This module only ever takes the easy case and declines the rest, whole: anything
 * it does not read with certainty (a 1xx head, HTTP/1.0, chunked, no length, a
 * Connection header other than "close" or "keep-alive", obs-fold, a byte outside
 * printable ASCII in the head, a body still on its way, bytes past the response, the
 * server's close) is handed back as the bytes read, for llhttp to read as it always
 * did (gturret/http/_connection.py). So every response is judged by llhttp's rules
 * or by a stricter subset of them; the fallback path is the whole behaviour.
 *
 * roundtrip(fd, payload, wait, watcher, is_head) returns:
 *   (status, head, body, keep_alive, sets_cookie)  the response, complete;
 *   bytes                             payload sent; what one read brought (b"": closed);
 *   int                               only that many bytes of payload went out, nothing read;
 * and raises OSError when the send or the read fails (nothing was read then), or
 * whatever ``wait`` raises (the exchange's timer throws into the waiting greenlet).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define READ_SIZE 65536
#define MAX_LENGTH_DIGITS 15

/* One read at a time: the GIL is held from the recv until the bytes objects are made
 * (no Python code can run in between: bytes objects are not tracked by the cyclic
 * collector, so making them never starts a collection and its finalizers). */
static char buffer[READ_SIZE];

/* Responses this module read, those it handed back to llhttp, and requests it could
 * only send in part (``counts()``). */
static unsigned long long taken, declined, sent_in_part;

static unsigned char is_tchar[256];  /* RFC 9110 token characters: header names */
static unsigned char is_vchar[256];  /* printable ASCII, SP and HTAB: values, reasons */
static unsigned char lower[256];

static void
build_tables(void)
{
    const char *specials = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        lower[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        is_tchar[c] = (unsigned char)((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                      (c >= 'A' && c <= 'Z') ||
                                      (c != 0 && strchr(specials, c) != NULL));
        is_vchar[c] = (unsigned char)((c >= 0x20 && c <= 0x7e) || c == '\t');
    }
}

/* Whether name[0:len] equals the lowercase ``word`` whatever its case. */
static int
same_name(const unsigned char *name, Py_ssize_t len, const char *word)
{
    if ((size_t)len != strlen(word)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        if (lower[name[i]] != (unsigned char)word[i]) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    int status;
    Py_ssize_t head_end;
    int keep_alive;
    int sets_cookie; /* a Set-Cookie field went by: the client stores cookies then */
} Reading;

/* Read b[0:n] as one complete response; 0 declines (see the top of this file). */
static int
read_response(const unsigned char *b, Py_ssize_t n, int is_head, Reading *out)
{
    if (n < 13 || memcmp(b, "HTTP/1.1 ", 9) != 0) {
        return 0;
    }
    for (int i = 9; i < 12; i++) {
        if (b[i] < '0' || b[i] > '9') {
            return 0;
        }
    }
    int status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    if (status < 200 || status > 599 || b[12] != ' ') {
        return 0;
    }
    Py_ssize_t p = 13;
    while (p < n && is_vchar[b[p]]) {
        p++;
    }
    if (p + 1 >= n || b[p] != '\r' || b[p + 1] != '\n') {
        return 0;
    }
    p += 2;
    long long length = -1;
    int close = 0;
    int sets_cookie = 0;
    for (;;) {
        if (p + 1 >= n) {
            return 0; /* the head goes on past this read */
        }
        if (b[p] == '\r') {
            if (b[p + 1] != '\n') {
                return 0;
            }
            p += 2;
            break;
        }
        Py_ssize_t name = p;
        while (p < n && is_tchar[b[p]]) {
            p++;
        }
        if (p == name || p >= n || b[p] != ':') {
            return 0; /* obs-fold, a space before the colon, a bad name */
        }
        Py_ssize_t name_len = p - name;
        p++;
        while (p < n && (b[p] == ' ' || b[p] == '\t')) {
            p++;
        }
        Py_ssize_t value = p;
        while (p < n && is_vchar[b[p]]) {
            p++;
        }
        if (p + 1 >= n || b[p] != '\r' || b[p + 1] != '\n') {
            return 0;
        }
        Py_ssize_t value_end = p;
        while (value_end > value && (b[value_end - 1] == ' ' || b[value_end - 1] == '\t')) {
            value_end--;
        }
        p += 2;
        const unsigned char *field = b + name;
        if (same_name(field, name_len, "content-length")) {
            Py_ssize_t digits = value_end - value;
            if (length >= 0 || digits < 1 || digits > MAX_LENGTH_DIGITS) {
                return 0;
            }
            length = 0;
            for (Py_ssize_t i = value; i < value_end; i++) {
                if (b[i] < '0' || b[i] > '9') {
                    return 0;
                }
                length = length * 10 + (b[i] - '0');
            }
        }
        else if (same_name(field, name_len, "connection")) {
            if (same_name(b + value, value_end - value, "close")) {
                close = 1;
            }
            else if (!same_name(b + value, value_end - value, "keep-alive")) {
                return 0;
            }
        }
        else if (same_name(field, name_len, "set-cookie")) {
            sets_cookie = 1;
        }
        else if (same_name(field, name_len, "transfer-encoding") ||
                 same_name(field, name_len, "proxy-connection") ||
                 same_name(field, name_len, "upgrade")) {
            return 0;
        }
    }
    if (is_head || status == 204 || status == 304) {
        if (p != n) {
            return 0;
        }
    }
    else if (length < 0 || n - p != length) {
        return 0;
    }
    out->status = status;
    out->head_end = p;
    out->keep_alive = !close;
    out->sets_cookie = sets_cookie;
    return 1;
}

static PyObject *
roundtrip(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "roundtrip(fd, payload, wait, watcher, is_head)");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    char *payload;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(args[1], &payload, &size) < 0) {
        return NULL;
    }
    int is_head = PyObject_IsTrue(args[4]);
    if (is_head < 0) {
        return NULL;
    }
    ssize_t sent;
    do {
        sent = send((int)fd, payload, (size_t)size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
    if (sent < 0) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sent_in_part++;
            return PyLong_FromLong(0);
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (sent < size) {
        sent_in_part++;
        return PyLong_FromSsize_t(sent);
    }
    ssize_t got;
    for (;;) {
        PyObject *waited = PyObject_CallOneArg(args[2], args[3]);
        if (waited == NULL) {
            return NULL;
        }
        Py_DECREF(waited);
        do {
            got = recv((int)fd, buffer, READ_SIZE, MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
        if (got >= 0) {
            break;
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Reading reading;
    if (!read_response((const unsigned char *)buffer, got, is_head, &reading)) {
        declined++;
        return PyBytes_FromStringAndSize(buffer, got);
    }
    taken++;
    /* Both bytes objects before the tuple, whose allocation may start a collection. */
    PyObject *head = PyBytes_FromStringAndSize(buffer, reading.head_end);
    if (head == NULL) {
        return NULL;
    }
    PyObject *body = PyBytes_FromStringAndSize(buffer + reading.head_end, got - reading.head_end);
    if (body == NULL) {
        Py_DECREF(head);
        return NULL;
    }
    return Py_BuildValue("(iNNOO)", reading.status, head, body,
                         reading.keep_alive ? Py_True : Py_False,
                         reading.sets_cookie ? Py_True : Py_False);
}

static PyObject *
counts(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(KKK)", taken, declined, sent_in_part);
}

static PyMethodDef methods[] = {
    {"counts", counts, METH_NOARGS,
     "counts(): (responses read here, handed back to llhttp, requests sent in part)."},
    {"roundtrip", (PyCFunction)(void (*)(void))roundtrip, METH_FASTCALL,
     "roundtrip(fd, payload, wait, watcher, is_head): send, wait, read one plain response."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "gturret.http._fastpath",
    "One plain-TCP HTTP/1.1 exchange in one call (see gturret/http/_connection.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    build_tables();
    return PyModule_Create(&module);
}
