using System.Collections.Generic;
using System.Runtime.CompilerServices;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Locking;

/// <summary>
/// The sleeping read/write semaphore (<c>struct rw_semaphore</c>, kernel/locking/rwsem.c) under
/// <c>mm-&gt;mmap_lock</c>: any number of readers or one writer; a task that cannot take it sleeps
/// (<c>TASK_UNINTERRUPTIBLE</c>) in a FIFO queue. As in Linux, a reader arriving while anyone waits
/// queues behind the waiter (writers are not starved); a release hands the lock to the head of the
/// queue: one writer, or every reader queued at the head.
/// </summary>
/// <remarks>
/// Reached through the locking subsystem (<c>down_read</c> &amp; co.), which hands in its lockdep; the address
/// space builds <c>mmap_lock</c> on it. Every acquisition is validated by lockdep first, as in Linux, where
/// <c>mmap_lock</c> is one of the locks lockdep reports most. A read hold is not a recursive read
/// (<c>lock_acquire_shared</c>, read=1): taking it twice is reported, since a writer queued in between makes the
/// second <c>down_read</c> wait for ever.
/// </remarks>
internal static class RwSemaphores
{
    private sealed class State
    {
        public readonly List<(SimTask Task, bool Write)> Queue = new();
        public readonly HashSet<SimTask> Granted = new();
    }

    private static readonly ConditionalWeakTable<rw_semaphore, State> States = new();

    private static State Of(rw_semaphore sem) => States.GetValue(sem, _ => new State());

    /// <summary><c>down_read</c>: takes the semaphore for reading; sleeps while a writer holds it or anyone waits.</summary>
    public static void down_read(rw_semaphore sem, Lockdep lockdep) => Acquire(sem, write: false, lockdep);

    /// <summary><c>down_write</c>: takes the semaphore for writing; sleeps while anyone holds it.</summary>
    public static void down_write(rw_semaphore sem, Lockdep lockdep) => Acquire(sem, write: true, lockdep);

    /// <summary><c>down_read_trylock</c>: 1 when taken for reading, 0 otherwise (never sleeps).</summary>
    public static int down_read_trylock(rw_semaphore sem, Lockdep lockdep)
    {
        var m = Machine.Current;
        if (sem.count < 0 || Of(sem).Queue.Count > 0)
            return 0;
        string? site = Site(m);
        lockdep.Acquire(m.CurrentSim, m.CurrentCpu, sem, LockKind.RwSemRead, site, trylock: true, read: true);
        Take(m, m.CurrentSim, sem, write: false, site);
        return 1;
    }

    /// <summary><c>down_write_trylock</c>: 1 when taken for writing, 0 otherwise (never sleeps).</summary>
    public static int down_write_trylock(rw_semaphore sem, Lockdep lockdep)
    {
        var m = Machine.Current;
        if (sem.count != 0)
            return 0;
        string? site = Site(m);
        lockdep.Acquire(m.CurrentSim, m.CurrentCpu, sem, LockKind.RwSemWrite, site, trylock: true, read: false);
        Take(m, m.CurrentSim, sem, write: true, site);
        return 1;
    }

    /// <summary><c>up_read</c>: releases a read hold; the last reader hands the lock to the first waiter.</summary>
    public static void up_read(rw_semaphore sem, Lockdep lockdep)
    {
        var m = Machine.Current;
        var t = m.CurrentSim;
        if (sem.count <= 0 || !sem.readers.Remove(t))
        {
            lockdep.BadUnlock(t, sem, Site(m));
            return;
        }
        Forget(t, sem);
        sem.count--;
        if (sem.count == 0)
            HandOver(m, sem);
    }

    /// <summary><c>up_write</c>: releases the write hold and hands the lock to the first waiter(s).</summary>
    public static void up_write(rw_semaphore sem, Lockdep lockdep)
    {
        var m = Machine.Current;
        var t = m.CurrentSim;
        if (sem.count != -1 || !ReferenceEquals(sem.owner, t))
        {
            lockdep.BadUnlock(t, sem, Site(m));
            return;
        }
        Forget(t, sem);
        sem.count = 0;
        sem.owner = null;
        HandOver(m, sem);
    }

    /// <summary>True while held by anyone (<c>rwsem_is_locked</c>).</summary>
    public static bool rwsem_is_locked(rw_semaphore sem) => sem.count != 0;

    /// <summary>True when the calling task holds it for writing.</summary>
    public static bool rwsem_is_write_locked_by_current(rw_semaphore sem) =>
        sem.count == -1 && ReferenceEquals(sem.owner, Machine.Current.CurrentSim);

    private static void Acquire(rw_semaphore sem, bool write, Lockdep lockdep)
    {
        var m = Machine.Current;
        var t = m.CurrentSim;
        string? site = Site(m);
        // Taking it again while holding it is lockdep's "possible recursive locking": the task then waits for
        // itself, and the run ends as a deadlock (as a mutex taken twice does).
        lockdep.Acquire(t, m.CurrentCpu, sem, write ? LockKind.RwSemWrite : LockKind.RwSemRead, site, trylock: false, read: !write);
        var state = Of(sem);
        if (write ? sem.count == 0 : sem.count >= 0 && state.Queue.Count == 0)
        {
            Take(m, t, sem, write, site);
            return;
        }
        state.Queue.Add((t, write));
        // The releaser grants the lock (count, owner, readers set) and wakes us.
        while (!state.Granted.Remove(t))
        {
            t.Task.__state = TASK_UNINTERRUPTIBLE;
            m.Schedule(write ? "rwsem_down_write_slowpath" : "rwsem_down_read_slowpath");
        }
        t.Task.__state = TASK_RUNNING;
        t.HeldLocks.Add(new HeldLock(sem, write ? LockKind.RwSemWrite : LockKind.RwSemRead, site, m.CurrentCpu.IrqsEnabled));
    }

    private static void Take(Machine m, SimTask t, rw_semaphore sem, bool write, string? site)
    {
        if (write)
        {
            sem.count = -1;
            sem.owner = t;
        }
        else
        {
            sem.count++;
            sem.readers.Add(t);
        }
        t.HeldLocks.Add(new HeldLock(sem, write ? LockKind.RwSemWrite : LockKind.RwSemRead, site, m.CurrentCpu.IrqsEnabled));
    }

    private static void HandOver(Machine m, rw_semaphore sem)
    {
        var state = Of(sem);
        if (state.Queue.Count == 0)
            return;
        var (head, write) = state.Queue[0];
        if (write)
        {
            state.Queue.RemoveAt(0);
            sem.count = -1;
            sem.owner = head;
            state.Granted.Add(head);
            m.Wake(head, TASK_UNINTERRUPTIBLE);
            return;
        }
        while (state.Queue.Count > 0 && !state.Queue[0].Write)
        {
            var reader = state.Queue[0].Task;
            state.Queue.RemoveAt(0);
            sem.count++;
            sem.readers.Add(reader);
            state.Granted.Add(reader);
            m.Wake(reader, TASK_UNINTERRUPTIBLE);
        }
    }

    private static void Forget(SimTask t, rw_semaphore sem)
    {
        int index = t.IndexOfHeld(sem);
        if (index >= 0)
            t.HeldLocks.RemoveAt(index);
    }

    private static string? Site(Machine m) => m.TakeCallSite() ?? (m.Config.Lockdep ? StackCapture.FirstUserLocation(3) : null);
}
