// Mailbox controller with two slab caches (messages, descriptors), a kcalloc'd channel table and a page ring:
// objects freed to the wrong cache or with kfree, double frees, unchecked allocations, probe leaks, IRQ dev_id slips.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2GDmaMailbox;

public struct mbox_msg
{
    public uint chan;
    public uint len;
    public ulong queued_at;
}

public struct mbox_desc
{
    public ulong dma_addr;
    public uint flags;
}

public sealed class mbox_chan
{
    public uint id;
    public uint err_status;
}

public sealed class MailboxController
{
    private const int RING_ORDER = 2;
    private readonly spinlock_t q_lock = new();
    private readonly tasklet_struct done_tasklet = new();
    private readonly timer_list tx_watchdog = new();
    private readonly mbox_chan err_chan = new();
    private readonly List<kptr> inflight = new();
    private static readonly percpu<long> bell_count = DEFINE_PER_CPU<long>();
    private kmem_cache? msg_cache;
    private kmem_cache? desc_cache;
    private kptr chan_table;
    private kptr pending_desc;
    private ulong ring_addr;
    private uint mbox_irq;
    private uint bell_irq;
    private uint err_irq;
    private uint wake_irq;
    private uint status;
    private ulong tx_deadline;
    private ulong last_bell;

    public int init()
    {
        msg_cache = kmem_cache_create("mbox_msg", 32, 8, SLAB_HWCACHE_ALIGN, null);
        if (msg_cache is null)
            return -ENOMEM;
        desc_cache = kmem_cache_create("mbox_desc", 16, 8, SLAB_HWCACHE_ALIGN, null);
        if (desc_cache is null)
        {
            kmem_cache_destroy(msg_cache);
            msg_cache = null;
            return -ENOMEM;
        }
        tasklet_setup(done_tasklet, t => reap_done());
        timer_setup(tx_watchdog, t => watchdog_fn(), 0);
        return 0;
    }

    public int probe(uint line, uint bell, uint err_line)
    {
        mbox_irq = line;
        bell_irq = bell;
        err_irq = err_line;
        var table = kcalloc(16, 8, GFP_KERNEL);
        if (table == NULL)
            return -ENOMEM; // ok: KH3004 (table is NULL on this path: nothing to leak)
        ulong ring = __get_free_pages(GFP_KERNEL | __GFP_DMA32, RING_ORDER); // ok: KH1004 (a single zone modifier, page allocator)
        if (ring == 0)
            return -ENOMEM; // expect: KH3004 (table from kcalloc is neither freed nor stored on this path)
        memset((kptr)ring, 0, PAGE_SIZE << RING_ORDER); // ok: KH3002 (ring tested against 0 above)
        int err = request_irq(mbox_irq, mbox_isr, IRQF_SHARED, "mbox", this); // ok: KH4001, KH4004 (non-null dev_id; mbox_isr reads mc.status and may return IRQ_NONE)
        if (err != 0)
        {
            free_pages(ring, RING_ORDER); // ok: KH3001 (same constant order as __get_free_pages)
            kfree(table); // ok: KH3001 (kcalloc memory freed with kfree)
            return err; // ok: KH3004 (both allocations freed before the errno return)
        }
        chan_table = table;
        ring_addr = ring;
        err = request_irq(bell_irq, bell_isr, 0, "mbox-bell", null); // ok: KH4001, KH4004 (line not shared: null dev_id and an always-handled handler are allowed)
        if (err != 0)
        {
            free_irq(mbox_irq, this); // ok: KH4002 (same dev_id as the request of mbox_irq)
            return err; // ok: KH3004 (table and ring were handed to fields)
        }
        err = request_threaded_irq(err_irq, err_hardirq, err_thread, IRQF_SHARED | IRQF_ONESHOT, "mbox-err", err_chan); // ok: KH4001, KH4004 (dev_id err_chan; err_hardirq tests its err_status)
        if (err != 0)
        {
            free_irq(bell_irq, null); // ok: KH4002 (bell_irq was requested with null)
            free_irq(mbox_irq, this);
            return err;
        }
        mod_timer(tx_watchdog, jiffies + HZ);
        return 0;
    }

    public int probe_legacy()
    {
        return request_irq(mbox_irq, legacy_isr, IRQF_SHARED | IRQF_TRIGGER_LOW, "mbox-legacy", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
    }

    public int enable_wake(uint line)
    {
        wake_irq = line;
        return request_irq(wake_irq, (irq, dev) => IRQ_HANDLED, IRQF_SHARED, "mbox-wake", this); // expect: KH4004 (shared handler returns IRQ_HANDLED without reading any device state)
    }

    public void disable_wake()
    {
        free_irq(wake_irq, this); // ok: KH4002 (wake_irq requested with this)
    }

    // Hard IRQ.
    private irqreturn_t mbox_isr(int irq, object? dev_id)
    {
        if (dev_id is not MailboxController mc || mc.status == 0)
            return IRQ_NONE;
        mc.status = 0;
        var m = kmem_cache_alloc(msg_cache!, GFP_ATOMIC | __GFP_NOWARN); // ok: KH1004 (GFP_ATOMIC with __GFP_NOWARN is valid)
        if (m == NULL)
            return IRQ_HANDLED;
        ref var msg = ref ptr_ref<mbox_msg>(m); // ok: KH3002 (m tested against NULL above)
        msg.queued_at = jiffies;
        spin_lock(q_lock);
        inflight.Add(m); // ok: KH9001 (List<T> is allowlisted base library)
        spin_unlock(q_lock);
        tasklet_schedule(done_tasklet);
        return IRQ_HANDLED;
    }

    private irqreturn_t legacy_isr(int irq, object? dev_id)
    {
        if (status == 0)
            return IRQ_NONE;
        status = 0;
        return IRQ_HANDLED;
    }

    private irqreturn_t bell_isr(int irq, object? dev_id)
    {
        last_bell = jiffies;
        this_cpu_inc(bell_count);
        return IRQ_HANDLED;
    }

    private static irqreturn_t err_hardirq(int irq, object? dev_id)
    {
        if (dev_id is not mbox_chan c || c.err_status == 0)
            return IRQ_NONE;
        return IRQ_WAKE_THREAD;
    }

    // Process context (thread_fn).
    private static irqreturn_t err_thread(int irq, object? dev_id)
    {
        if (dev_id is mbox_chan c)
            c.err_status = 0;
        return IRQ_HANDLED;
    }

    // Softirq (tasklet).
    private void reap_done()
    {
        var note = kzalloc(64, GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_ATOMIC, which may not block)
        if (note == NULL)
            return;
        spin_lock_irqsave(q_lock, out var flags);
        var batch = inflight.ToArray();
        inflight.Clear();
        spin_unlock_irqrestore(q_lock, flags);
        foreach (var m in batch)
        {
            ref var msg = ref ptr_ref<mbox_msg>(m);
            if (msg.len > 4096)
            {
                cache_put(msg_cache!, m); // ok: KH3001 (helper frees to the cache its caller names, the owning msg_cache)
                continue;
            }
            complete_msg(m, msg.chan);
        }
        ptr_ref<int>(note) = batch.Length;
        kfree(note);
    }

    private void complete_msg(kptr m, uint chan)
    {
        if (deliver(chan) < 0)
            kmem_cache_free(msg_cache!, m);
        else
            kmem_cache_free(msg_cache!, m); // ok: KH3003 (the two frees are on disjoint branches)
    }

    private static void cache_put(kmem_cache c, kptr obj) => kmem_cache_free(c, obj);

    private int deliver(uint chan)
    {
        if (chan >= 16 || chan_table == NULL)
            return -EINVAL;
        ref ulong slot = ref ptr_ref<ulong>(chan_table + (int)(chan * 8));
        slot++;
        status |= 1u << (int)chan;
        return 0;
    }

    private kptr new_msg(uint chan)
    {
        var m = kmem_cache_zalloc(msg_cache!, GFP_KERNEL);
        if (m != NULL)
            ptr_ref<mbox_msg>(m).chan = chan; // ok: KH3002 (inside the m != NULL branch)
        return m;
    }

    public int ping(uint chan)
    {
        var m = new_msg(chan);
        if (m == NULL)
            return -ENOMEM;
        int rc = deliver(chan);
        kfree(m); // expect: KH3001 (new_msg() returns a msg_cache object, freed with kfree)
        return rc;
    }

    public int send_sync(uint chan, uint len)
    {
        var m = kmem_cache_alloc(msg_cache!, GFP_KERNEL | __GFP_NOFAIL); // ok: KH1004 (__GFP_NOFAIL with blocking GFP_KERNEL is valid)
        ref var msg = ref ptr_ref<mbox_msg>(m); // ok: KH3002 (__GFP_NOFAIL allocation cannot return NULL)
        msg.chan = chan;
        msg.len = len;
        var d = kmem_cache_alloc(desc_cache!, GFP_KERNEL);
        ptr_ref<mbox_desc>(d).flags = 1; // expect: KH3002 (d from kmem_cache_alloc dereferenced before any NULL check)
        tx_deadline = jiffies + HZ / 2;
        int rc = deliver(chan);
        if (rc < 0)
        {
            kmem_cache_free(desc_cache!, d);
            kmem_cache_free(msg_cache!, m);
            return rc; // ok: KH3004 (both objects freed before the errno return)
        }
        kmem_cache_free(msg_cache!, d); // expect: KH3001 (d came from desc_cache but is freed to msg_cache)
        kmem_cache_free(msg_cache!, m); // ok: KH3001 (m returned to its own cache)
        return 0;
    }

    public int arm_desc()
    {
        pending_desc = kmem_cache_alloc(desc_cache!, GFP_KERNEL | __GFP_DMA32); // expect: KH1004 (__GFP_DMA32 passed to a slab cache: GFP_SLAB_BUG_MASK)
        if (pending_desc == NULL)
            return -ENOMEM;
        ptr_ref<mbox_desc>(pending_desc).dma_addr = ring_addr; // ok: KH3002 (pending_desc tested against NULL above)
        return 0;
    }

    public int reset_chan(uint chan)
    {
        var scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
        if (scratch == NULL)
            return -ENOMEM;
        var alias = scratch;
        memset(alias, 0, PAGE_SIZE); // ok: KH3002 (alias of scratch, which was checked)
        kfree(scratch);
        scratch = kmalloc(64, GFP_KERNEL);
        if (scratch == NULL)
            return -ENOMEM; // ok: KH3004 (the first buffer was freed, the second is NULL here)
        int rc = deliver(chan);
        kfree(scratch); // ok: KH3003 (scratch was reassigned to a new kmalloc between the two frees)
        if (rc == 0)
            kfree(alias); // expect: KH3003 (alias names the first buffer, already freed through scratch)
        return rc;
    }

    public int selftest()
    {
        ulong probe_buf = __get_free_pages(GFP_KERNEL, 1);
        memset((kptr)probe_buf, 0xa5, 2 * PAGE_SIZE); // expect: KH3002 (__get_free_pages result used before the test against 0)
        if (probe_buf == 0)
            return -ENOMEM;
        int bad = ptr_span((kptr)probe_buf, 2 * PAGE_SIZE)[100] == 0xa5 ? 0 : 1;
        free_pages(probe_buf, 0); // expect: KH3001 (order-1 block returned with order 0)
        return bad == 0 ? 0 : -EIO;
    }

    // Softirq (timer).
    private void watchdog_fn()
    {
        if (jiffies > tx_deadline) // expect: KH5001 (raw > between jiffies and the jiffies-derived field tx_deadline)
            status |= 0x8000_0000;
        if (time_after(jiffies, last_bell + 2 * HZ)) // ok: KH5001 (time_after is wrap-safe)
            pr_warn("mbox: doorbell silent\n");
        if (jiffies - last_bell > 10 * HZ) // ok: KH5001 (difference of two times compared with a duration)
            last_bell = jiffies;
        mod_timer(tx_watchdog, jiffies + HZ);
    }

    public int wait_idle()
    {
        ulong deadline = jiffies + msecs_to_jiffies(50);
        int polls = 0;
        while (status != 0)
        {
            if (deadline <= jiffies) // expect: KH5001 (raw <= between deadline = jiffies + … and jiffies)
                return -EBUSY;
            polls = System.Math.Min(polls + 1, 1000); // ok: KH9001 (System.Math is allowlisted)
            System.Threading.Thread.Sleep(1); // expect: KH9001 (threads outside the kernel API: use msleep)
        }
        return polls;
    }

    public int mbox_open()
    {
        if (current.mm == init_mm) // expect: KH6001 (no task's mm is init_mm; the kernel-thread test is mm == null)
            return -EPERM;
        var parent = current.parent;
        if (parent != null && parent.mm == init_mm) // expect: KH6001 (any task's mm compared with init_mm)
            return -EPERM;
        if (current.mm == null) // ok: KH6001 (the correct test for a kernel thread)
            return -EINVAL;
        if (current.active_mm == init_mm) // ok: KH6001 (active_mm may legitimately be init_mm)
            pr_info("mbox: opened on a lazy-TLB mm\n");
        return 0;
    }

    public void remove()
    {
        del_timer_sync(tx_watchdog);
        free_irq(mbox_irq, this); // ok: KH4002 (mbox_irq was requested with this)
        free_irq(bell_irq, this); // expect: KH4002 (bell_irq was requested only with a null dev_id)
        free_irq(err_irq, this); // expect: KH4002 (err_irq was requested only with err_chan)
        tasklet_kill(done_tasklet);
        kfree(pending_desc); // expect: KH3001 (pending_desc only ever holds desc_cache objects)
        free_pages(ring_addr, RING_ORDER); // ok: KH3001 (ring_addr holds an order-RING_ORDER block)
        kvfree(chan_table); // ok: KH3001 (kvfree accepts kmalloc-family memory)
        kmem_cache_destroy(desc_cache);
        kmem_cache_destroy(msg_cache);
        System.Console.WriteLine("mbox: removed"); // expect: KH9001 (Console is refused: use printk)
    }
}
