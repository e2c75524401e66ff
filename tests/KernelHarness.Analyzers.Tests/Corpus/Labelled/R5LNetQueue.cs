// Network transmit queue written "the refactored way": callbacks kept as delegates in readonly fields (a static
// IRQ lambda over dev_id, a timer method group stored by the constructor), expression-bodied members, switch
// expressions under the queue lock, try/finally unlock paths, early returns inside loops. Holds a sleep in the IRQ
// lambda, GFP_NOIO in the timer, GFP_ATOMIC in process-only code, NOFAIL/highmem mistakes, unbalanced paths.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LNetQueue;

public enum TxAction { Send, Defer, Drop }

public sealed class NetQueue
{
    private const int QLEN = 64;
    private const int HDR_BYTES = 32;
    private const int HIGH_WATER = 48;

    private readonly spinlock_t q_lock = new();
    private readonly rwlock_t stats_lock = new();
    private readonly work_struct clean_work = new();
    private readonly timer_list kick_timer = new();
    private static readonly percpu<long> tx_packets = DEFINE_PER_CPU<long>();
    private readonly int[] lens = new int[QLEN];
    private readonly int[] prio = new int[QLEN];
    private readonly long[] stats = new long[4];
    private int q_head, q_len;
    private int hw_pending;
    private bool carrier;
    private uint irq;
    private task_struct? tx_task;
    private kptr stats_buf = NULL;

    // Hard-IRQ handler kept in a field and registered in open().
    private readonly irq_handler_t tx_isr = static (n, d) =>
    {
        if (d is not NetQueue q || q.hw_pending == 0)
            return IRQ_NONE;
        q.hw_pending = 0;
        if (q.q_len > HIGH_WATER)
            q.throttle(); // expect: KH1001 (throttle() -> msleep() sleeps; tx_isr, a static lambda kept in a field, is registered with request_irq: hard IRQ)
        return IRQ_HANDLED;
    };

    // Timer callback kept in a field, registered with timer_setup in open().
    private readonly System.Action<timer_list> kick_fn;

    public NetQueue() => kick_fn = kick_queue;

    private bool queue_full => q_len >= QLEN;
    private int tail_slot => (q_head + q_len) % QLEN;

    private void throttle() => msleep(2);

    private TxAction classify(int slot) => lens[slot] switch
    {
        0 => TxAction.Drop,
        > 1500 => prio[slot] < 3 ? TxAction.Defer : TxAction.Send,
        _ => TxAction.Send,
    };

    public int open(uint line)
    {
        irq = line;
        stats_buf = kzalloc(64, GFP_KERNEL | __GFP_NOFAIL); // ok: __GFP_NOFAIL with GFP_KERNEL, which may block: a valid combination
        INIT_WORK(clean_work, clean_work_fn);
        timer_setup(kick_timer, kick_fn, 0);
        int err = request_irq(irq, tx_isr, IRQF_TRIGGER_FALLING, "netq", this);
        if (err != 0)
        {
            kfree(stats_buf);
            stats_buf = NULL;
            return err;
        }
        tx_task = kthread_run(static d => ((NetQueue)d!).tx_thread(), this, "netq-tx");
        mod_timer(kick_timer, jiffies + HZ);
        return 0;
    }

    // Softirq context: the timer callback, registered through the kick_fn field.
    private void kick_queue(timer_list t)
    {
        var hdr = kmalloc(HDR_BYTES, GFP_NOIO); // expect: KH1002 (GFP_NOIO allows direct reclaim; kick_queue is the timer callback registered through kick_fn: softirq)
        if (hdr == NULL)
        {
            mod_timer(kick_timer, jiffies + HZ / 10);
            return;
        }
        spin_lock(q_lock);
        TxAction act = q_len == 0 || !carrier ? TxAction.Defer : classify(q_head);
        if (act == TxAction.Drop)
        {
            q_head = (q_head + 1) % QLEN;
            q_len--;
        }
        spin_unlock(q_lock);
        ptr_ref<int>(hdr) = (int)act;
        kfree(hdr);
        if (act == TxAction.Send)
            schedule_work(clean_work);
        mod_timer(kick_timer, jiffies + HZ / 10);
    }

    // Process context: work item.
    private void clean_work_fn(work_struct w)
    {
        var batch = kmalloc_array(QLEN, sizeof(int), GFP_ATOMIC); // expect: KH1003 (work item, process context with nothing held: GFP_KERNEL would do)
        if (batch == NULL)
            return;
        spin_lock_bh(q_lock);
        var extra = kmalloc(HDR_BYTES, GFP_ATOMIC); // ok: q_lock is held here, so GFP_ATOMIC is right even inside a work item
        int n = q_len;
        q_len = 0;
        spin_unlock_bh(q_lock);
        kfree(extra);
        var hdr = alloc_hdr();
        if (hdr != NULL)
        {
            ptr_ref<int>(hdr) = n;
            kfree(hdr);
        }
        kfree(batch);
    }

    private kptr alloc_hdr() => kzalloc(HDR_BYTES, GFP_ATOMIC); // expect: KH1003 (private helper reached only from clean_work_fn and tx_thread, both process context with nothing held)

    // Process context: kernel thread (started through a static lambda in open()).
    private int tx_thread()
    {
        while (!kthread_should_stop())
        {
            var burst = kcalloc(4, HDR_BYTES, GFP_ATOMIC); // expect: KH1003 (kernel thread body with nothing held: GFP_KERNEL would do)
            if (burst == NULL)
            {
                msleep(20);
                continue;
            }
            rcu_read_lock();
            var probe = kmalloc(16, GFP_ATOMIC); // ok: inside an RCU read-side section the code is atomic: GFP_ATOMIC is right
            bool up = carrier;
            rcu_read_unlock();
            kfree(probe);
            var hdr = alloc_hdr();
            kfree(hdr);
            kfree(burst);
            msleep(up ? 10u : 100u);
        }
        return 0;
    }

    public int enqueue(int len, int p)
    {
        spin_lock(q_lock); // expect: KH2003 (the TxAction.Drop return leaves q_lock held)
        int slot = tail_slot;
        lens[slot] = len;
        prio[slot] = p;
        TxAction act = queue_full ? TxAction.Drop : classify(slot);
        if (act == TxAction.Drop)
            return -ENOSPC;
        q_len++;
        spin_unlock(q_lock);
        if (act == TxAction.Send)
            schedule_work(clean_work);
        return 0;
    }

    public int requeue(int n)
    {
        spin_lock_bh(q_lock);
        for (int i = 0; i < n; i++)
        {
            if (queue_full)
            {
                spin_unlock_bh(q_lock);
                break;
            }
            q_len++;
        }
        spin_unlock_bh(q_lock); // expect: KH2003 (on the break path q_lock was already released inside the loop: release of a lock not held)
        return 0;
    }

    public int set_carrier(int state)
    {
        spin_lock_bh(q_lock); // ok: every case releases q_lock before its return, and the break path releases below
        switch (state)
        {
            case 0:
                carrier = false;
                spin_unlock_bh(q_lock); // ok: the bh variant matches spin_lock_bh
                return 0;
            case 1:
                carrier = true;
                break;
            default:
                spin_unlock_bh(q_lock);
                return -EINVAL;
        }
        spin_unlock_bh(q_lock);
        mod_timer(kick_timer, jiffies + HZ / 10);
        return 0;
    }

    public long drain_stats()
    {
        spin_lock_irqsave(q_lock, out ulong flags);
        try
        {
            long total = 0;
            for (int i = 0; i < stats.Length; i++)
            {
                if (stats[i] < 0)
                    return -EIO;
                total += stats[i];
            }
            return total;
        }
        finally
        {
            spin_unlock(q_lock); // expect: KH2004 (spin_lock_irqsave released with spin_unlock in the finally: interrupts stay disabled)
        }
    }

    public int snapshot(long[] dst)
    {
        read_lock_irqsave(stats_lock, out ulong flags); // ok: the finally releases it on every exit, including the return inside the loop
        try
        {
            for (int i = 0; i < stats.Length; i++)
            {
                if (i >= dst.Length)
                    return i;
                dst[i] = stats[i];
            }
            return stats.Length;
        }
        finally { read_unlock_irqrestore(stats_lock, flags); } // ok: read_lock_irqsave paired with read_unlock_irqrestore
    }

    public long stat(int idx)
    {
        read_lock_irqsave(stats_lock, out ulong flags);
        long v = stats[idx & 3];
        read_unlock_irq(stats_lock); // expect: KH2004 (read_lock_irqsave released with read_unlock_irq: the saved flags are discarded)
        return v;
    }

    public int read_stats(ulong ubuf)
    {
        if (stats_buf == NULL)
            return -ENODEV;
        read_lock(stats_lock);
        ptr_ref<long>(stats_buf) = stats[0] + stats[1];
        ulong left = copy_to_user(ubuf, stats_buf, 8); // expect: KH1001 (copy_to_user may fault and sleep while stats_lock is read-held)
        read_unlock(stats_lock);
        return left == 0 ? 0 : -EFAULT;
    }

    public int pick_slot()
    {
        preempt_disable(); // expect: KH2001 (the return of a free slot inside the for loop leaves preemption disabled)
        for (int i = 0; i < QLEN; i++)
        {
            if (lens[i] == 0)
                return i;
        }
        preempt_enable();
        return -ENOSPC;
    }

    public int first_busy()
    {
        preempt_disable(); // ok: the preempt_enable in the finally also runs on the return inside the loop
        try
        {
            for (int i = 0; i < QLEN; i++)
                if (lens[i] != 0)
                    return i;
            return -ENOENT;
        }
        finally { preempt_enable(); }
    }

    public int count_tx(int len)
    {
        int cpu = get_cpu(); // expect: KH2001 (the TxAction.Drop return skips put_cpu: preemption stays disabled)
        TxAction a = len switch { <= 0 => TxAction.Drop, > 9000 => TxAction.Defer, _ => TxAction.Send };
        if (a == TxAction.Drop)
            return -EINVAL;
        per_cpu(tx_packets, cpu) += a == TxAction.Send ? 1 : 0;
        put_cpu();
        return 0;
    }

    public int fill_prio(int[] src)
    {
        for (int i = 0; i < src.Length && i < QLEN; i++)
        {
            local_irq_save(out ulong f); // expect: KH2002 (the negative-priority return inside the loop leaves interrupts disabled)
            if (src[i] < 0)
                return -EINVAL;
            prio[i] = src[i];
            local_irq_restore(f);
        }
        return 0;
    }

    public int reset_prio()
    {
        local_irq_save(out ulong f); // ok: restored in the finally on every exit, including the -EIO return
        try
        {
            for (int i = 0; i < QLEN; i++)
            {
                if (lens[i] < 0)
                    return -EIO;
                prio[i] = 0;
            }
            return 0;
        }
        finally { local_irq_restore(f); }
    }

    public int resize_ring(int entries)
    {
        if (entries <= 0 || entries > 4096)
            return -EINVAL;
        var ring = kmalloc((ulong)entries * 16, GFP_NOWAIT | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_NOWAIT, which cannot block)
        if (ring == NULL)
            return -ENOMEM;
        kfree(ring);
        var shadow = kmalloc((ulong)entries * 4, GFP_USER | __GFP_HIGHMEM); // expect: KH1004 (__GFP_HIGHMEM passed to kmalloc: it is in GFP_SLAB_BUG_MASK)
        if (shadow == NULL)
            return -ENOMEM;
        kfree(shadow);
        return 0;
    }

    public void close()
    {
        if (tx_task is not null)
            kthread_stop(tx_task);
        tx_task = null;
        free_irq(irq, this);
        del_timer_sync(kick_timer);
        cancel_work_sync(clean_work);
        kfree(stats_buf);
        stats_buf = NULL;
    }
}
