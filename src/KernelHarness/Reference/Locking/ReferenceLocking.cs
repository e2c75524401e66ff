using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Locking;

/// <summary>
/// The reference locks (kernel/locking/): spinlocks and rwlocks spin with preemption (and, for the
/// _irq/_irqsave/_bh variants, interrupts or bottom halves) disabled through the bound cpu-state
/// subsystem; mutexes and semaphores sleep and hand the lock to the first waiter; RCU read sections
/// nest per task. Every acquisition is validated by lockdep first.
/// </summary>
public sealed class ReferenceLocking : ILocking
{
    private Lockdep? lockdep;

    private static Machine M => Machine.Current;

    private Lockdep Dep(Machine m) => lockdep ??= new Lockdep(m);

    private static string? Site(Machine m) => m.TakeCallSite() ?? (m.Config.Lockdep ? StackCapture.FirstUserLocationCached(2) : null);

    // ---- Spinning acquisition shared by spinlocks and rwlocks ----

    private void SpinAcquire(KernelLockObject l, LockKind kind, bool read)
    {
        var m = M;
        var t = m.CurrentSim;
        var cpu = m.CurrentCpu;
        string? site = Site(m);
        Dep(m).Acquire(t, cpu, l, kind, site, trylock: false, read);
        int spins = 0;
        while (read ? l.count < 0 : l.count != 0)
        {
            if (++spins > m.Config.SpinLockupThreshold)
                m.SpinLockup(l);
            m.Relax();
        }
        Take(m, t, l, kind, site, read);
    }

    private static void Take(Machine m, SimTask t, KernelLockObject l, LockKind kind, string? site, bool read)
    {
        if (read)
        {
            l.count++;
            l.readers.Add(t);
        }
        else
        {
            l.count = 1;
            l.owner = t;
            l.owner_cpu = t.Cpu;
        }
        t.HeldLocks.Add(new HeldLock(l, kind, site, m.CurrentCpu.IrqsEnabled));
    }

    private void Release(KernelLockObject l, LockKind kind, bool read)
    {
        var m = M;
        var t = m.CurrentSim;
        int index = t.IndexOfHeld(l);
        if (index < 0 || (read ? !l.readers.Contains(t) : !ReferenceEquals(l.owner, t)))
        {
            Dep(m).BadUnlock(t, l, Site(m));
            return;
        }
        var held = t.HeldLocks[index];
        if (held.Kind != kind && m.ReportOnce($"mismatch:{l.ClassKey}:{held.Kind}:{kind}"))
        {
            m.Warn($"lock '{l.Name}' taken with {Describe(held.Kind)} (at {held.Site ?? "?"}) but released with {Describe(kind)}",
                "lock_release");
        }
        t.HeldLocks.RemoveAt(index);
        if (read)
        {
            l.count--;
            l.readers.Remove(t);
        }
        else
        {
            l.count = 0;
            l.owner = null;
            l.owner_cpu = -1;
        }
    }


    private static string Describe(LockKind kind) => kind switch
    {
        LockKind.Spin => "spin_lock()",
        LockKind.SpinIrq => "spin_lock_irq()",
        LockKind.SpinIrqSave => "spin_lock_irqsave()",
        LockKind.SpinBh => "spin_lock_bh()",
        _ => kind.ToString(),
    };

    private static ICpuState Cpu(Machine m) => m.CpuState;

    // ---- spinlock_t ----

    public void spin_lock_init(spinlock_t @lock)
    {
        @lock.count = 0;
        @lock.owner = null;
    }

    public void spin_lock(spinlock_t @lock)
    {
        Cpu(M).preempt_disable();
        SpinAcquire(@lock, LockKind.Spin, read: false);
    }

    public void spin_unlock(spinlock_t @lock)
    {
        Release(@lock, LockKind.Spin, read: false);
        Cpu(M).preempt_enable();
    }

    public bool spin_trylock(spinlock_t @lock)
    {
        var m = M;
        Cpu(m).preempt_disable();
        if (@lock.count != 0)
        {
            Cpu(m).preempt_enable();
            return false;
        }
        string? site = Site(m);
        Dep(m).Acquire(m.CurrentSim, m.CurrentCpu, @lock, LockKind.Spin, site, trylock: true, read: false);
        Take(m, m.CurrentSim, @lock, LockKind.Spin, site, read: false);
        return true;
    }

    public bool spin_is_locked(spinlock_t @lock) => @lock.count != 0;

    public void spin_lock_irq(spinlock_t @lock)
    {
        var c = Cpu(M);
        c.local_irq_disable();
        c.preempt_disable();
        SpinAcquire(@lock, LockKind.SpinIrq, read: false);
    }

    public void spin_unlock_irq(spinlock_t @lock)
    {
        var c = Cpu(M);
        Release(@lock, LockKind.SpinIrq, read: false);
        c.local_irq_enable();
        c.preempt_enable();
    }

    public void spin_lock_irqsave(spinlock_t @lock, out ulong flags)
    {
        var c = Cpu(M);
        c.local_irq_save(out flags);
        c.preempt_disable();
        SpinAcquire(@lock, LockKind.SpinIrqSave, read: false);
    }

    public void spin_unlock_irqrestore(spinlock_t @lock, ulong flags)
    {
        var c = Cpu(M);
        Release(@lock, LockKind.SpinIrqSave, read: false);
        c.local_irq_restore(flags);
        c.preempt_enable();
    }

    public void spin_lock_bh(spinlock_t @lock)
    {
        var c = Cpu(M);
        c.local_bh_disable();
        c.preempt_disable();
        SpinAcquire(@lock, LockKind.SpinBh, read: false);
    }

    public void spin_unlock_bh(spinlock_t @lock)
    {
        var c = Cpu(M);
        Release(@lock, LockKind.SpinBh, read: false);
        c.preempt_enable();
        c.local_bh_enable();
    }

    // ---- rwlock_t ----

    public void rwlock_init(rwlock_t @lock)
    {
        @lock.count = 0;
        @lock.owner = null;
        @lock.readers.Clear();
    }

    private void ReadLock(rwlock_t l, LockKind kind) => SpinAcquire(l, kind, read: true);

    private void WriteLock(rwlock_t l, LockKind kind)
    {
        var m = M;
        var t = m.CurrentSim;
        string? site = Site(m);
        Dep(m).Acquire(t, m.CurrentCpu, l, kind, site, trylock: false, read: false);
        int spins = 0;
        while (l.count != 0)
        {
            if (++spins > m.Config.SpinLockupThreshold)
                m.SpinLockup(l);
            m.Relax();
        }
        l.count = -1;
        l.owner = t;
        l.owner_cpu = t.Cpu;
        t.HeldLocks.Add(new HeldLock(l, kind, site, m.CurrentCpu.IrqsEnabled));
    }

    private void WriteUnlock(rwlock_t l, LockKind kind) => Release(l, kind, read: false);

    public void read_lock(rwlock_t @lock) { Cpu(M).preempt_disable(); ReadLock(@lock, LockKind.ReadLock); }
    public void read_unlock(rwlock_t @lock) { Release(@lock, LockKind.ReadLock, read: true); Cpu(M).preempt_enable(); }
    public void read_lock_irq(rwlock_t @lock) { var c = Cpu(M); c.local_irq_disable(); c.preempt_disable(); ReadLock(@lock, LockKind.ReadLockIrq); }
    public void read_unlock_irq(rwlock_t @lock) { var c = Cpu(M); Release(@lock, LockKind.ReadLockIrq, read: true); c.local_irq_enable(); c.preempt_enable(); }
    public void read_lock_irqsave(rwlock_t @lock, out ulong flags) { var c = Cpu(M); c.local_irq_save(out flags); c.preempt_disable(); ReadLock(@lock, LockKind.ReadLockIrqSave); }
    public void read_unlock_irqrestore(rwlock_t @lock, ulong flags) { var c = Cpu(M); Release(@lock, LockKind.ReadLockIrqSave, read: true); c.local_irq_restore(flags); c.preempt_enable(); }
    public void read_lock_bh(rwlock_t @lock) { var c = Cpu(M); c.local_bh_disable(); c.preempt_disable(); ReadLock(@lock, LockKind.ReadLockBh); }
    public void read_unlock_bh(rwlock_t @lock) { var c = Cpu(M); Release(@lock, LockKind.ReadLockBh, read: true); c.preempt_enable(); c.local_bh_enable(); }
    public void write_lock(rwlock_t @lock) { Cpu(M).preempt_disable(); WriteLock(@lock, LockKind.WriteLock); }
    public void write_unlock(rwlock_t @lock) { WriteUnlock(@lock, LockKind.WriteLock); Cpu(M).preempt_enable(); }
    public void write_lock_irq(rwlock_t @lock) { var c = Cpu(M); c.local_irq_disable(); c.preempt_disable(); WriteLock(@lock, LockKind.WriteLockIrq); }
    public void write_unlock_irq(rwlock_t @lock) { var c = Cpu(M); WriteUnlock(@lock, LockKind.WriteLockIrq); c.local_irq_enable(); c.preempt_enable(); }
    public void write_lock_irqsave(rwlock_t @lock, out ulong flags) { var c = Cpu(M); c.local_irq_save(out flags); c.preempt_disable(); WriteLock(@lock, LockKind.WriteLockIrqSave); }
    public void write_unlock_irqrestore(rwlock_t @lock, ulong flags) { var c = Cpu(M); WriteUnlock(@lock, LockKind.WriteLockIrqSave); c.local_irq_restore(flags); c.preempt_enable(); }
    public void write_lock_bh(rwlock_t @lock) { var c = Cpu(M); c.local_bh_disable(); c.preempt_disable(); WriteLock(@lock, LockKind.WriteLockBh); }
    public void write_unlock_bh(rwlock_t @lock) { var c = Cpu(M); WriteUnlock(@lock, LockKind.WriteLockBh); c.preempt_enable(); c.local_bh_enable(); }

    // ---- Sleeping locks: the lock is handed to the first waiter on release ----

    private int SleepAcquire(KernelLockObject l, LockKind kind, bool interruptible)
    {
        var m = M;
        var t = m.CurrentSim;
        string? site = Site(m);
        Dep(m).Acquire(t, m.CurrentCpu, l, kind, site, trylock: false, read: false);
        bool isSemaphore = l is semaphore;
        if (isSemaphore ? l.count > 0 : l.count == 0)
        {
            TakeSleeping(m, t, l, kind, site);
            return 0;
        }
        l.waiters.Add(t);
        // The releaser hands the lock over: it puts us on the hand-off list (a mutex's owner becomes us,
        // a semaphore's unit is ours). Owning the mutex already (recursive locking) is no hand-off: we
        // sleep for ever, as Linux does.
        try
        {
            while (!l.handoff.Remove(t))
            {
                if (interruptible && t.SignalPending)
                {
                    l.waiters.Remove(t);
                    t.Task.__state = TASK_RUNNING;
                    return -EINTR;
                }
                t.Task.__state = interruptible ? TASK_INTERRUPTIBLE : TASK_UNINTERRUPTIBLE;
                m.Schedule(isSemaphore ? "down" : "mutex_lock");
            }
        }
        catch (KernelOopsException)
        {
            l.waiters.Remove(t); // sleeping in interrupt context: the caller is being killed
            t.Task.__state = TASK_RUNNING;
            throw;
        }
        t.Task.__state = TASK_RUNNING;
        t.HeldLocks.Add(new HeldLock(l, kind, site, m.CurrentCpu.IrqsEnabled));
        return 0;
    }

    private static void TakeSleeping(Machine m, SimTask t, KernelLockObject l, LockKind kind, string? site)
    {
        if (l is semaphore)
            l.count--;
        else
        {
            l.count = 1;
            l.owner = t;
        }
        t.HeldLocks.Add(new HeldLock(l, kind, site, m.CurrentCpu.IrqsEnabled));
    }

    public void mutex_init(mutex @lock)
    {
        @lock.count = 0;
        @lock.owner = null;
        @lock.waiters.Clear();
        @lock.handoff.Clear();
    }

    public void mutex_lock(mutex @lock) => SleepAcquire(@lock, LockKind.Mutex, interruptible: false);

    public int mutex_lock_interruptible(mutex @lock) => SleepAcquire(@lock, LockKind.Mutex, interruptible: true);

    public int mutex_trylock(mutex @lock)
    {
        var m = M;
        if (@lock.count != 0)
            return 0;
        string? site = Site(m);
        Dep(m).Acquire(m.CurrentSim, m.CurrentCpu, @lock, LockKind.Mutex, site, trylock: true, read: false);
        TakeSleeping(m, m.CurrentSim, @lock, LockKind.Mutex, site);
        return 1;
    }

    public void mutex_unlock(mutex @lock)
    {
        var m = M;
        var t = m.CurrentSim;
        int index = t.IndexOfHeld(@lock);
        if (index < 0 || !ReferenceEquals(@lock.owner, t))
        {
            Dep(m).BadUnlock(t, @lock, Site(m));
            return;
        }
        t.HeldLocks.RemoveAt(index);
        if (@lock.waiters.Count > 0)
        {
            var next = @lock.waiters[0];
            @lock.waiters.RemoveAt(0);
            @lock.owner = next; // hand-off: the lock stays held, now by the first waiter
            @lock.handoff.Add(next);
            m.Wake(next);
        }
        else
        {
            @lock.count = 0;
            @lock.owner = null;
        }
    }

    public bool mutex_is_locked(mutex @lock) => @lock.count != 0;

    public void sema_init(semaphore sem, int val)
    {
        sem.count = val;
        sem.waiters.Clear();
        sem.handoff.Clear();
    }

    public void down(semaphore sem) => SleepAcquire(sem, LockKind.Semaphore, interruptible: false);

    public int down_interruptible(semaphore sem) => SleepAcquire(sem, LockKind.Semaphore, interruptible: true);

    public int down_trylock(semaphore sem)
    {
        var m = M;
        if (sem.count <= 0)
            return 1;
        TakeSleeping(m, m.CurrentSim, sem, LockKind.Semaphore, Site(m));
        return 0;
    }

    public void up(semaphore sem)
    {
        var m = M;
        var t = m.CurrentSim;
        int index = t.IndexOfHeld(sem);
        if (index >= 0)
            t.HeldLocks.RemoveAt(index); // a semaphore may be released by another task than the one that took it
        if (sem.waiters.Count > 0)
        {
            var next = sem.waiters[0];
            sem.waiters.RemoveAt(0);
            sem.handoff.Add(next);
            m.Wake(next);
        }
        else
        {
            sem.count++;
        }
    }

    // ---- rw_semaphore (kernel/locking/rwsem.c) ----

    public void init_rwsem(rw_semaphore sem)
    {
        sem.count = 0;
        sem.owner = null;
        sem.readers.Clear();
        sem.waiters.Clear();
    }

    public void down_read(rw_semaphore sem) => RwSemaphores.down_read(sem, Dep(M));

    public int down_read_trylock(rw_semaphore sem) => RwSemaphores.down_read_trylock(sem, Dep(M));

    public void up_read(rw_semaphore sem) => RwSemaphores.up_read(sem, Dep(M));

    public void down_write(rw_semaphore sem) => RwSemaphores.down_write(sem, Dep(M));

    public int down_write_trylock(rw_semaphore sem) => RwSemaphores.down_write_trylock(sem, Dep(M));

    public void up_write(rw_semaphore sem) => RwSemaphores.up_write(sem, Dep(M));

    public bool rwsem_is_locked(rw_semaphore sem) => RwSemaphores.rwsem_is_locked(sem);

    // ---- RCU (preemptible RCU: the depth is per task) ----

    public void rcu_read_lock() => M.CurrentSim.RcuDepth++;

    public void rcu_read_unlock()
    {
        var t = M.CurrentSim;
        if (t.RcuDepth == 0)
        {
            M.Warn("rcu_read_unlock() without rcu_read_lock()", "rcu_read_unlock");
            return;
        }
        if (--t.RcuDepth == 0)
            t.RcuExits++;
    }

    public void synchronize_rcu()
    {
        var m = M;
        var self = m.CurrentSim;
        // A grace period ends once every task that was inside a read section has left it.
        while (m.AnyOtherTaskInRcu(self))
        {
            self.Task.__state = TASK_UNINTERRUPTIBLE;
            m.ScheduleTimeout(1, "synchronize_rcu");
        }
    }

    public void lockdep_assert_held(KernelLockObject @lock)
    {
        var m = M;
        if (!m.CurrentSim.HeldLocks.Exists(h => ReferenceEquals(h.Lock, @lock)))
            m.Warn($"lockdep_assert_held: '{@lock.Name}' is not held by {m.CurrentSim.Comm}/{m.CurrentSim.Pid}", "lockdep_assert_held");
    }
}
