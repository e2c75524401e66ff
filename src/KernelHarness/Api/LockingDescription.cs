using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Locks (kernel-api.md §4): spinlocks and rwlocks (atomic), mutexes and semaphores (sleeping), RCU
/// read sections; validated by lockdep (kernel/locking/).
/// </summary>
[KernelSubsystem("locking", "ILocking", BootOrder = 6, Reference = typeof(Reference.Locking.ReferenceLocking), Linux = "kernel/locking/spinlock.c")]
internal interface LockingDescription
{
    /// <summary>Resets a spinlock to unlocked.</summary>
    [Linux("include/linux/spinlock.h")]
    void spin_lock_init(spinlock_t @lock);

    /// <summary>Takes a spinlock: disables preemption, spins while another CPU holds it.</summary>
    [Linux("include/linux/spinlock.h"), Acquires("lock", Kind = LockKind.Spin), PairsWith("spin_unlock")]
    void spin_lock(spinlock_t @lock);

    /// <summary>Releases a spinlock taken by <c>spin_lock</c>.</summary>
    [Linux("include/linux/spinlock.h"), Releases("lock", Kind = LockKind.Spin)]
    void spin_unlock(spinlock_t @lock);

    /// <summary>Takes a spinlock if it is free; true when taken.</summary>
    [Linux("include/linux/spinlock.h"), Acquires("lock", Kind = LockKind.Spin, When = AcquireCondition.ReturnsTrue)]
    bool spin_trylock(spinlock_t @lock);

    /// <summary>True when the spinlock is held by someone.</summary>
    [Linux("include/linux/spinlock.h")]
    bool spin_is_locked(spinlock_t @lock);

    /// <summary>Disables interrupts and takes a spinlock.</summary>
    [Linux("include/linux/spinlock.h"), Acquires("lock", Kind = LockKind.SpinIrq), PairsWith("spin_unlock_irq")]
    void spin_lock_irq(spinlock_t @lock);

    /// <summary>Releases a spinlock and enables interrupts.</summary>
    [Linux("include/linux/spinlock.h"), Releases("lock", Kind = LockKind.SpinIrq)]
    void spin_unlock_irq(spinlock_t @lock);

    /// <summary>Saves the interrupt state in <paramref name="flags"/>, disables interrupts and takes a spinlock.</summary>
    [Linux("include/linux/spinlock.h"), Acquires("lock", Kind = LockKind.SpinIrqSave, FlagsParameter = "flags"), PairsWith("spin_unlock_irqrestore")]
    void spin_lock_irqsave(spinlock_t @lock, out ulong flags);

    /// <summary>Releases a spinlock and restores the saved interrupt state.</summary>
    [Linux("include/linux/spinlock.h"), Releases("lock", Kind = LockKind.SpinIrqSave, FlagsParameter = "flags")]
    void spin_unlock_irqrestore(spinlock_t @lock, ulong flags);

    /// <summary>Disables bottom halves and takes a spinlock.</summary>
    [Linux("include/linux/spinlock.h"), Acquires("lock", Kind = LockKind.SpinBh), PairsWith("spin_unlock_bh")]
    void spin_lock_bh(spinlock_t @lock);

    /// <summary>Releases a spinlock and re-enables bottom halves.</summary>
    [Linux("include/linux/spinlock.h"), Releases("lock", Kind = LockKind.SpinBh)]
    void spin_unlock_bh(spinlock_t @lock);

    /// <summary>Resets an rwlock to unlocked.</summary>
    [Linux("include/linux/rwlock.h")]
    void rwlock_init(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.ReadLock), PairsWith("read_unlock")]
    void read_lock(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.ReadLock)]
    void read_unlock(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.ReadLockIrq), PairsWith("read_unlock_irq")]
    void read_lock_irq(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.ReadLockIrq)]
    void read_unlock_irq(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.ReadLockIrqSave, FlagsParameter = "flags"), PairsWith("read_unlock_irqrestore")]
    void read_lock_irqsave(rwlock_t @lock, out ulong flags);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.ReadLockIrqSave, FlagsParameter = "flags")]
    void read_unlock_irqrestore(rwlock_t @lock, ulong flags);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.ReadLockBh), PairsWith("read_unlock_bh")]
    void read_lock_bh(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.ReadLockBh)]
    void read_unlock_bh(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.WriteLock), PairsWith("write_unlock")]
    void write_lock(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.WriteLock)]
    void write_unlock(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.WriteLockIrq), PairsWith("write_unlock_irq")]
    void write_lock_irq(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.WriteLockIrq)]
    void write_unlock_irq(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.WriteLockIrqSave, FlagsParameter = "flags"), PairsWith("write_unlock_irqrestore")]
    void write_lock_irqsave(rwlock_t @lock, out ulong flags);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.WriteLockIrqSave, FlagsParameter = "flags")]
    void write_unlock_irqrestore(rwlock_t @lock, ulong flags);

    [Linux("include/linux/rwlock.h"), Acquires("lock", Kind = LockKind.WriteLockBh), PairsWith("write_unlock_bh")]
    void write_lock_bh(rwlock_t @lock);

    [Linux("include/linux/rwlock.h"), Releases("lock", Kind = LockKind.WriteLockBh)]
    void write_unlock_bh(rwlock_t @lock);

    /// <summary>Resets a mutex to unlocked.</summary>
    [Linux("kernel/locking/mutex.c")]
    void mutex_init(mutex @lock);

    /// <summary>Takes a mutex, sleeping until it is free.</summary>
    [Linux("kernel/locking/mutex.c"), MightSleep, Acquires("lock", Kind = LockKind.Mutex), PairsWith("mutex_unlock")]
    void mutex_lock(mutex @lock);

    /// <summary>Takes a mutex, sleeping interruptibly; 0 when taken, <c>-EINTR</c> on a signal.</summary>
    [Linux("kernel/locking/mutex.c"), MightSleep, Acquires("lock", Kind = LockKind.Mutex, When = AcquireCondition.ReturnsZero), PairsWith("mutex_unlock"), ReturnsErrno]
    int mutex_lock_interruptible(mutex @lock);

    /// <summary>Takes a mutex if it is free; 1 when taken, 0 otherwise.</summary>
    [Linux("kernel/locking/mutex.c"), Acquires("lock", Kind = LockKind.Mutex, When = AcquireCondition.ReturnsNonZero)]
    int mutex_trylock(mutex @lock);

    /// <summary>Releases a mutex; only its owner may.</summary>
    [Linux("kernel/locking/mutex.c"), Releases("lock", Kind = LockKind.Mutex)]
    void mutex_unlock(mutex @lock);

    /// <summary>True when the mutex is held.</summary>
    [Linux("include/linux/mutex.h")]
    bool mutex_is_locked(mutex @lock);

    /// <summary>Resets a semaphore to <paramref name="val"/>.</summary>
    [Linux("include/linux/semaphore.h")]
    void sema_init(semaphore sem, int val);

    /// <summary>Takes the semaphore, sleeping until a unit is free.</summary>
    [Linux("kernel/locking/semaphore.c"), MightSleep, Acquires("sem", Kind = LockKind.Semaphore), PairsWith("up")]
    void down(semaphore sem);

    /// <summary>Takes the semaphore, sleeping interruptibly; 0 when taken, <c>-EINTR</c> on a signal.</summary>
    [Linux("kernel/locking/semaphore.c"), MightSleep, Acquires("sem", Kind = LockKind.Semaphore, When = AcquireCondition.ReturnsZero), PairsWith("up"), ReturnsErrno]
    int down_interruptible(semaphore sem);

    /// <summary>Takes the semaphore if a unit is free; 0 when taken, 1 otherwise.</summary>
    [Linux("kernel/locking/semaphore.c"), Acquires("sem", Kind = LockKind.Semaphore, When = AcquireCondition.ReturnsZero)]
    int down_trylock(semaphore sem);

    /// <summary>Releases a unit of the semaphore.</summary>
    [Linux("kernel/locking/semaphore.c"), Releases("sem", Kind = LockKind.Semaphore)]
    void up(semaphore sem);

    /// <summary>Resets a read/write semaphore to unlocked.</summary>
    [Linux("include/linux/rwsem.h")]
    void init_rwsem(rw_semaphore sem);

    /// <summary>Takes a read/write semaphore for reading, sleeping while a writer holds it or waits.</summary>
    [Linux("kernel/locking/rwsem.c"), MightSleep, Acquires("sem", Kind = LockKind.RwSemRead), PairsWith("up_read")]
    void down_read(rw_semaphore sem);

    /// <summary>Takes a read/write semaphore for reading if possible; 1 when taken, 0 otherwise.</summary>
    [Linux("kernel/locking/rwsem.c"), Acquires("sem", Kind = LockKind.RwSemRead, When = AcquireCondition.ReturnsNonZero)]
    int down_read_trylock(rw_semaphore sem);

    /// <summary>Releases a read hold.</summary>
    [Linux("kernel/locking/rwsem.c"), Releases("sem", Kind = LockKind.RwSemRead)]
    void up_read(rw_semaphore sem);

    /// <summary>Takes a read/write semaphore for writing, sleeping while anyone holds it.</summary>
    [Linux("kernel/locking/rwsem.c"), MightSleep, Acquires("sem", Kind = LockKind.RwSemWrite), PairsWith("up_write")]
    void down_write(rw_semaphore sem);

    /// <summary>Takes a read/write semaphore for writing if possible; 1 when taken, 0 otherwise.</summary>
    [Linux("kernel/locking/rwsem.c"), Acquires("sem", Kind = LockKind.RwSemWrite, When = AcquireCondition.ReturnsNonZero)]
    int down_write_trylock(rw_semaphore sem);

    /// <summary>Releases the write hold.</summary>
    [Linux("kernel/locking/rwsem.c"), Releases("sem", Kind = LockKind.RwSemWrite)]
    void up_write(rw_semaphore sem);

    /// <summary>True when the semaphore is held by anyone.</summary>
    [Linux("include/linux/rwsem.h")]
    bool rwsem_is_locked(rw_semaphore sem);

    /// <summary>Enters an RCU read-side critical section (no sleeping inside).</summary>
    [Linux("include/linux/rcupdate.h"), EntersContext(LockKind.Rcu), PairsWith("rcu_read_unlock")]
    void rcu_read_lock();

    /// <summary>Leaves an RCU read-side critical section.</summary>
    [Linux("include/linux/rcupdate.h"), LeavesContext(LockKind.Rcu)]
    void rcu_read_unlock();

    /// <summary>Waits until every RCU read section that started before it has ended.</summary>
    [Linux("kernel/rcu/tree.c"), MightSleep]
    void synchronize_rcu();

    /// <summary>Warns unless the current context holds <paramref name="lock"/> (lockdep).</summary>
    [Linux("include/linux/lockdep.h")]
    void lockdep_assert_held(Runtime.KernelLockObject @lock);
}
