"""leave_early.py - clients that send an AuthZEN evaluation and leave
without reading the answer (half of them shut their side down right after
the request, so the server sees the end of the stream in the same read).

    leave_early.py HOST:PORT BODY_FILE THREADS PER_THREAD

Prints the number of requests sent completely."""
import socket
import sys
import threading

host, port = sys.argv[1].rsplit(":", 1)
body = open(sys.argv[2], "rb").read().strip()
threads, per = int(sys.argv[3]), int(sys.argv[4])
req = (b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
sent = [0] * threads


def run(t):
    for i in range(per):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(req)
        if i % 2:
            s.shutdown(socket.SHUT_WR)
        s.close()
        sent[t] += 1


ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(sent))
