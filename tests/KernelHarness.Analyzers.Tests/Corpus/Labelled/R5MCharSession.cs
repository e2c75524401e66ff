// A character device with per-open sessions from one slab cache and commands from another, a threaded IRQ and a GC work
// item. Holds crossed kmem_cache_free calls, leaks on copy_from_user and lookup failures, a double free, a spinlock held on an error return.
using KernelHarness;
using KernelHarness.Annotations;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5MCharSession;

public struct session
{
    public uint id;
    public uint flags;
    public ulong opened;
    public ulong cred;
    public ulong inbox;
    public ulong cmd;
}

public sealed class SessionDev
{
    private const int MAX_SESSIONS = 16;
    private const ulong SESSION_SIZE = 48;
    private const ulong CMD_SIZE = 128;
    private const ulong CRED_SIZE = 32;
    private const ulong INBOX_SIZE = 16 * PAGE_SIZE;
    private const ulong EV_SIZE = 16;

    private readonly mutex dev_mutex = new();
    private readonly spinlock_t sess_lock = new();
    private readonly work_struct gc_work = new();
    private readonly kptr[] sessions = new kptr[MAX_SESSIONS];
    private kmem_cache? sess_cache;
    private kmem_cache? cmd_cache;
    private kptr cmd_queue = NULL;
    private kptr last_event = NULL;
    private uint irq;
    private int nr_open;
    private uint irq_pending;
    private uint next_id;

    [Acquires("dev.dev_mutex")]
    private static void lock_dev(SessionDev dev) => mutex_lock(dev.dev_mutex); // ok: an [Acquires] helper returns holding dev_mutex by design

    [Releases("dev.dev_mutex")]
    private static void unlock_dev(SessionDev dev) => mutex_unlock(dev.dev_mutex); // ok: a [Releases] helper drops the lock its caller holds

    [Acquires("dev.sess_lock", When = AcquireCondition.ReturnsZero)]
    private static int grab_slot(SessionDev dev, int slot)
    {
        if (slot < 0 || slot >= MAX_SESSIONS)
            return -EINVAL;
        spin_lock(dev.sess_lock); // ok: [Acquires(When = ReturnsZero)]: held only on the return 0, as annotated
        if (dev.sessions[slot] == NULL)
        {
            spin_unlock(dev.sess_lock);
            return -ENOENT;
        }
        return 0;
    }

    public int init(uint irq_line)
    {
        kmem_cache? sc;
        kmem_cache? cc;
        int err;

        sc = kmem_cache_create("r5m_session", SESSION_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (sc is null)
            return -ENOMEM;
        err = -ENOMEM;
        cc = kmem_cache_create("r5m_cmd", CMD_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (cc is null)
            goto err_destroy_sess;
        sess_cache = sc;
        cmd_cache = cc;
        irq = irq_line;
        INIT_WORK(gc_work, gc_fn);
        err = request_threaded_irq(irq, sess_isr, sess_thread, IRQF_SHARED | IRQF_ONESHOT, "r5m_sess", this);
        if (err != 0)
            goto err_destroy_cmd;
        return 0;

    err_destroy_cmd:
        sess_cache = null;
        cmd_cache = null;
        kmem_cache_destroy(cc);
    err_destroy_sess:
        kmem_cache_destroy(sc);
        return err;
    }

    // Four resources per open, in a ladder; ownership of the session goes to its slot.
    public int open_session(uint uid)
    {
        kptr s;
        kptr cred;
        kptr inbox;
        kptr cmd;
        int slot;
        int err;

        s = kmem_cache_zalloc(sess_cache!, GFP_KERNEL);
        if (s == NULL)
            return -ENOMEM;
        err = -ENOMEM;
        cred = kzalloc(CRED_SIZE, GFP_KERNEL);
        if (cred == NULL)
            goto err_free_sess;
        inbox = kvmalloc(INBOX_SIZE, GFP_KERNEL);
        if (inbox == NULL)
            goto err_free_cred;
        cmd = kmem_cache_alloc(cmd_cache!, GFP_KERNEL);
        if (cmd == NULL)
            goto err_free_inbox;
        ptr_ref<uint>(cred) = uid; // ok: cred tested against NULL above
        ref var ss = ref ptr_ref<session>(s);
        ss.id = ++next_id;
        ss.opened = jiffies;
        ss.cred = (ulong)cred;
        ss.inbox = (ulong)inbox;
        ss.cmd = (ulong)cmd;

        lock_dev(this); // ok: [Acquires] helper, released by the [Releases] helper on both exits below
        slot = -1;
        for (int i = 0; i < MAX_SESSIONS && slot < 0; i++)
            slot = sessions[i] == NULL ? i : -1;
        if (slot < 0)
        {
            unlock_dev(this);
            err = -EBUSY;
            goto err_free_cmd;
        }
        sessions[slot] = s;
        nr_open++;
        unlock_dev(this);
        return slot;

    err_free_cmd:
        kmem_cache_free(cmd_cache!, cmd); // ok: the command object goes back to cmd_cache, its own cache
    err_free_inbox:
        kvfree(inbox);
    err_free_cred:
        kfree(cred); // ok: kzalloc memory freed with kfree
    err_free_sess:
        kmem_cache_free(sess_cache!, s);
        return err; // ok: each failing step unwinds exactly the resources made before it
    }

    public int touch(int slot)
    {
        int err = grab_slot(this, slot); // ok: grab_slot holds sess_lock only when it returns 0, and that path unlocks
        if (err != 0)
            return err;
        ptr_ref<session>(sessions[slot]).opened = jiffies;
        spin_unlock(sess_lock);
        return 0;
    }

    public int set_flags(int slot, uint flags)
    {
        if (slot < 0 || slot >= MAX_SESSIONS)
            return -EINVAL;
        spin_lock(sess_lock); // expect: KH2003 (sess_lock still held on the return -ENOENT)
        if (sessions[slot] == NULL)
            return -ENOENT;
        ptr_ref<session>(sessions[slot]).flags = flags;
        spin_unlock(sess_lock);
        return 0;
    }

    public int attach_inbox(int slot, ulong len)
    {
        if (slot < 0 || slot >= MAX_SESSIONS || len == 0)
            return -EINVAL;
        int err = mutex_lock_interruptible(dev_mutex); // ok: when it fails it returns non-zero without holding dev_mutex
        if (err != 0)
            return err;
        var inbox = kvmalloc(len, GFP_KERNEL);
        if (inbox == NULL)
        {
            mutex_unlock(dev_mutex);
            return -ENOMEM;
        }
        var s = sessions[slot];
        if (s == NULL)
        {
            mutex_unlock(dev_mutex);
            return -ENOENT; // expect: KH3004 (inbox from kvmalloc is neither freed nor stored when the slot is empty)
        }
        ref var ss = ref ptr_ref<session>(s);
        var old = (kptr)ss.inbox;
        ss.inbox = (ulong)inbox;
        mutex_unlock(dev_mutex);
        kvfree(old);
        return 0;
    }

    private void queue_cmd([TakesOwnership] kptr cmd)
    {
        spin_lock(sess_lock);
        var old = cmd_queue;
        cmd_queue = cmd;
        spin_unlock(sess_lock);
        if (old != NULL)
            kmem_cache_free(cmd_cache!, old);
    }

    public long write(ulong ubuf, ulong len)
    {
        if (len == 0 || len > CMD_SIZE)
            return -EINVAL;
        var kbuf = kmalloc(len, GFP_KERNEL);
        if (kbuf == NULL)
            return -ENOMEM;
        if (copy_from_user(kbuf, ubuf, len) != 0)
            return -EFAULT; // expect: KH3004 (kbuf from kmalloc leaks when copy_from_user faults)
        var cmd = kmem_cache_zalloc(cmd_cache!, GFP_KERNEL);
        if (cmd == NULL)
        {
            kfree(kbuf);
            return -ENOMEM; // ok: kbuf freed, cmd is NULL on this path
        }
        memcpy(cmd, kbuf, len);
        kfree(kbuf);
        queue_cmd(cmd);
        if (irq_pending > 64)
            return -EAGAIN; // ok: cmd was handed to queue_cmd, whose parameter is [TakesOwnership]
        return (long)len;
    }

    public int selftest()
    {
        var s = kmem_cache_zalloc(sess_cache!, GFP_KERNEL);
        if (s == NULL)
            return -ENOMEM;
        var c = kmem_cache_zalloc(cmd_cache!, GFP_KERNEL);
        if (c == NULL)
        {
            kmem_cache_free(sess_cache!, s);
            return -ENOMEM;
        }
        ptr_ref<session>(s).id = 0xffff;
        memcpy(c, s, SESSION_SIZE);
        kmem_cache_free(sess_cache!, c); // expect: KH3001 (command object from cmd_cache freed into sess_cache)
        kmem_cache_free(cmd_cache!, s); // expect: KH3001 (session object from sess_cache freed into cmd_cache)
        return 0;
    }

    public int rebuild_inbox(int slot, ulong len)
    {
        if (slot < 0 || slot >= MAX_SESSIONS || len == 0)
            return -EINVAL;
        var fresh = vzalloc(len);
        if (fresh == NULL)
            return -ENOMEM;
        mutex_lock(dev_mutex);
        var s = sessions[slot];
        if (s == NULL)
        {
            mutex_unlock(dev_mutex);
            vfree(fresh);
            goto fail;
        }
        ref var ss = ref ptr_ref<session>(s);
        var old = (kptr)ss.inbox;
        ss.inbox = (ulong)fresh;
        mutex_unlock(dev_mutex);
        kvfree(old);
        return 0;

    fail:
        vfree(fresh); // expect: KH3003 (fresh was already vfree'd before the goto fail)
        return -ENOENT;
    }

    // Hard-IRQ context: only reads the device state and wakes the thread.
    private irqreturn_t sess_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not SessionDev dev || dev.nr_open == 0)
            return IRQ_NONE;
        dev.irq_pending++;
        return IRQ_WAKE_THREAD;
    }

    // Process context: the thread_fn of request_threaded_irq.
    private irqreturn_t sess_thread(int irq_no, object? dev_id)
    {
        var ev = kzalloc(EV_SIZE, GFP_KERNEL); // ok: thread_fn runs in process context, GFP_KERNEL may sleep here
        ptr_ref<uint>(ev) = irq_pending; // expect: KH3002 (kzalloc result dereferenced before any NULL check)
        mutex_lock(dev_mutex);
        var old = last_event;
        last_event = ev;
        mutex_unlock(dev_mutex);
        kfree(old);
        schedule_work(gc_work);
        return IRQ_HANDLED;
    }

    // Frees its argument and everything the session owns.
    private void free_session(kptr s)
    {
        ref var ss = ref ptr_ref<session>(s);
        kmem_cache_free(cmd_cache!, (kptr)ss.cmd);
        kvfree((kptr)ss.inbox);
        kfree((kptr)ss.cred);
        kmem_cache_free(sess_cache!, s);
    }

    // Process context (work item): frees sessions whose flags say closed.
    private void gc_fn(work_struct w)
    {
        lock_dev(this);
        for (int i = 0; i < MAX_SESSIONS; i++)
        {
            var s = sessions[i];
            if (s == NULL || (ptr_ref<session>(s).flags & 1) == 0)
                continue;
            sessions[i] = NULL;
            nr_open--;
            free_session(s);
        }
        unlock_dev(this);
    }

    public void exit()
    {
        free_irq(irq, this);
        cancel_work_sync(gc_work);
        for (int i = 0; i < MAX_SESSIONS; i++)
        {
            var s = sessions[i];
            sessions[i] = NULL;
            if (s != NULL)
                free_session(s);
        }
        if (cmd_queue != NULL)
            kmem_cache_free(cmd_cache!, cmd_queue);
        cmd_queue = NULL;
        kfree(last_event);
        last_event = NULL;
        kmem_cache_destroy(cmd_cache);
        kmem_cache_destroy(sess_cache);
    }
}
