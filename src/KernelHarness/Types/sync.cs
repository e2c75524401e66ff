using System.Runtime.CompilerServices;
using KernelHarness.Runtime;

namespace KernelHarness;

// Kernel synchronisation objects: ready to use once constructed with new() (kernel-api.md §4a);
// the Linux *_init functions reset them. Their state belongs to the runtime's locking code.

/// <summary>A spinlock (<c>spinlock_t</c>): disables preemption while held; never sleep holding it.</summary>
public sealed class spinlock_t : KernelLockObject
{
    public spinlock_t([CallerMemberName] string member = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        : base("spinlock_t", member, file, line) { }
}

/// <summary>A reader-writer spinlock (<c>rwlock_t</c>).</summary>
public sealed class rwlock_t : KernelLockObject
{
    public rwlock_t([CallerMemberName] string member = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        : base("rwlock_t", member, file, line) { }
}

/// <summary>A mutex (<c>struct mutex</c>): a sleeping lock with an owner.</summary>
public sealed class mutex : KernelLockObject
{
    public mutex([CallerMemberName] string member = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        : base("mutex", member, file, line) { }
}

/// <summary>A counting semaphore (<c>struct semaphore</c>).</summary>
public sealed class semaphore : KernelLockObject
{
    public semaphore([CallerMemberName] string member = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        : this(1, member, file, line) { }

    public semaphore(int count, [CallerMemberName] string member = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        : base("semaphore", member, file, line) => this.count = count;
}

/// <summary>An entry on a wait queue (<c>struct wait_queue_entry</c>, <c>DEFINE_WAIT</c>).</summary>
public sealed class wait_queue_entry
{
    /// <summary>The waiting task.</summary>
    public task_struct? task;

    /// <summary>Exclusive waiters are woken one at a time.</summary>
    public bool exclusive;

    internal wait_queue_head_t? queued_on;
}

/// <summary>A wait queue head (<c>wait_queue_head_t</c>).</summary>
public sealed class wait_queue_head_t
{
    internal readonly System.Collections.Generic.List<wait_queue_entry> entries = new();
    internal readonly spinlock_t @lock = new();
}

/// <summary>A completion (<c>struct completion</c>).</summary>
public sealed class completion
{
    /// <summary>Completions not yet consumed by a waiter (<c>done</c>); <c>complete_all</c> sets it very high.</summary>
    public uint done;

    internal readonly wait_queue_head_t wait = new();
}
