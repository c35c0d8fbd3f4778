"""The instance keeper of the plain-process backend: no process of an instance outlives it.

A handler can leave processes behind: a double fork orphans the grandchild, and
``setsid`` takes it out of the instance's session and process group, beyond the reach of
a group kill. The keeper is the instance's first process. It makes itself a *child
subreaper* (``PR_SET_CHILD_SUBREAPER``, no privilege needed), so every process orphaned
below it is re-parented to it rather than to init, whatever session it is in; then it
forks, and the child becomes the runtime agent in the same interpreter (one interpreter
start, as before). The keeper waits for either:

- the agent to exit, or
- its *lifeline* to close: the read end of a pipe whose only write end the platform
  holds. The platform closes it to kill the instance, and the kernel closes it when
  the platform dies, even of ``SIGKILL``; then the keeper kills the agent.

Either way it then kills every process left below it and reaps them, and exits with the
agent's status. It reaps orphans as they end meanwhile, so a long-lived instance does
not collect zombies.

Still out of reach (docs/sandbox.md): a process that kills the keeper (the function runs
with the platform's uid, so it can), or that a program outside the instance adopts.

Standard library only. Run as ``python -I -S keeper.py <agent-socket-fd> <lifeline-fd>``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
AGENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "runtime", "agent.py")


def become_subreaper() -> bool:
    """Adopts the orphans of every descendant; False where the kernel refuses (not Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def run_agent(sock_fd: int, gate: int) -> None:
    """In the forked child: the runtime agent, as ``python -I -S agent.py`` would run it.

    It loads while the keeper becomes a subreaper, and waits for the keeper to close the
    ``gate`` before it serves: a process orphaned before that would go to init.
    """
    # Its import path as when started as a script: the runtime's directory first, the
    # package root only while the agent's modules load.
    sys.path[0] = os.path.dirname(AGENT)
    root = os.path.dirname(os.path.dirname(sys.path[0]))
    sys.path.insert(0, root)
    from fcompute.runtime import agent

    sys.path.remove(root)
    os.read(gate, 1)  # end of file: the keeper is ready (or gone, and so is the instance)
    os.close(gate)
    agent.main([AGENT, str(sock_fd)])  # never returns: it ends the process


def descendants() -> list[int]:
    """Every process below this one (zombies included), found through /proc."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []  # no /proc: the agent's own exit and the group kill are all there is
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [os.getpid()]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def reap(agent: int) -> int | None:
    """Reaps every child that ended; the agent's exit code if it was one of them."""
    status: int | None = None
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == agent:
            status = os.waitstatus_to_exitcode(raw)


def end_everything() -> None:
    """Kills every process left below the keeper and reaps them all.

    Killed parents hand their children to the keeper (it is their subreaper), so the
    walk repeats until nothing is left; a process killed while it forks creates no child.
    """
    while True:
        left = descendants()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)  # at least one has ended; the rest on the next rounds
            reap(-1)


def exit_like(status: int) -> None:
    """Ends the keeper the way the agent ended: same code, or same signal."""
    if status >= 0:
        os._exit(status)
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(-status, signal.SIG_DFL)
    os.kill(os.getpid(), -status)
    os._exit(128 - status)


def keep(sock_fd: int, lifeline: int) -> None:
    # Fork first: loading ctypes for prctl costs a few milliseconds, which overlap with
    # the agent loading its own modules instead of adding to the cold start.
    gate, opened = os.pipe()
    agent = os.fork()
    if agent == 0:
        os.close(lifeline)
        os.close(opened)
        run_agent(sock_fd, gate)
    os.close(gate)
    os.close(sock_fd)  # the keeper never speaks to the platform through it
    become_subreaper()
    os.close(opened)
    # SIGCHLD wakes the poll below through this pipe (set up after the fork: the agent
    # must not inherit it); a reap right after catches an agent that ended before.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _signal, _frame: None)
    poller = select.poll()
    poller.register(lifeline, select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    status = reap(agent)
    while status is None:
        ready = dict(poller.poll())
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
            status = reap(agent)
        if status is None and lifeline in ready:
            # The platform let go of the instance (a kill, or the platform is gone).
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent, signal.SIGKILL)
            status = os.waitstatus_to_exitcode(os.waitpid(agent, 0)[1])
    end_everything()
    exit_like(status)


def main(argv: list[str]) -> None:
    keep(int(argv[1]), int(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
