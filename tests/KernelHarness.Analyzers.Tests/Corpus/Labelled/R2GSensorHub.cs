// Sensor hub: per-port sample buffers (kmalloc/kvmalloc/vmalloc), ERR_PTR-returning frame builders and two ports
// sharing one IRQ line; vmalloc/kfree mix-ups, leaks in error ladders, null and mismatched dev_ids, init_mm tests.
using System.Collections.Generic;
using System.Text;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2GSensorHub;

public struct sample_hdr
{
    public uint seq;
    public uint count;
    public ulong stamp;
}

public sealed class hub_port
{
    public uint index;
    public uint pending;
    public ulong last_sample;
}

public sealed class SensorHub
{
    private readonly hub_port port_a = new();
    private readonly hub_port port_b = new();
    private readonly spinlock_t hub_lock = new();
    private readonly timer_list poll_timer = new();
    private readonly List<kptr> history = new();
    private readonly Dictionary<uint, ulong> seen_at = new();
    private readonly irq_handler_t alarm_quick = (irq, dev) => IRQ_HANDLED;
    private static readonly percpu<long> fifo_hits = DEFINE_PER_CPU<long>();
    private kptr calib_table;
    private kptr log_buf;
    private uint hub_irq;
    private uint alarm_irq;
    private uint aux_irq;
    private uint aux2_irq;
    private uint cal_irq;
    private uint fifo_irq;
    private ulong next_poll;
    private ulong calib_started;
    private uint seq;

    public int probe(uint line, uint alarm, uint aux, uint aux2)
    {
        hub_irq = line;
        alarm_irq = alarm;
        aux_irq = aux;
        aux2_irq = aux2;
        port_a.index = 0;
        port_b.index = 1;
        int err = request_irq(hub_irq, port_isr, IRQF_SHARED, "hub-a", port_a); // ok: KH4001, KH4004 (dev_id port_a; port_isr reads its pending state)
        if (err != 0)
            return err;
        err = request_irq(hub_irq, port_isr, IRQF_SHARED, "hub-b", port_b); // ok: KH4001, KH4004 (second sharer with its own dev_id)
        if (err != 0)
        {
            free_irq(hub_irq, port_a); // ok: KH4002 (port_a is one of hub_irq's dev_ids)
            return err;
        }
        err = request_irq(alarm_irq, alarm_quick, IRQF_SHARED, "hub-alarm", this); // expect: KH4004 (delegate stored in alarm_quick claims every interrupt without reading device state)
        if (err != 0)
            return err;
        err = request_irq(aux_irq, aux_isr, IRQF_SHARED | IRQF_TRIGGER_RISING, "hub-aux", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (err != 0)
            return err;
        err = request_threaded_irq(aux2_irq, null, aux2_thread, IRQF_SHARED | IRQF_ONESHOT, "hub-aux2", null); // expect: KH4001 (shared threaded IRQ with a null dev_id)
        if (err != 0)
            return err;
        timer_setup(poll_timer, t => poll_fn(), 0);
        next_poll = jiffies + HZ / 10;
        mod_timer(poll_timer, next_poll);
        return 0;
    }

    public int attach_calibration(uint line)
    {
        cal_irq = line;
        var cookie = port_a;
        return request_irq(cal_irq, cal_isr, 0, "hub-cal", cookie); // ok: KH4004 (line not shared: an always-handled handler is allowed)
    }

    public int attach_fifo(uint line)
    {
        fifo_irq = line;
        return request_threaded_irq(fifo_irq, fifo_quick, fifo_thread, IRQF_SHARED, "hub-fifo", this); // expect: KH4004 (hard handler fifo_quick returns IRQ_HANDLED on every path, reads no device state)
    }

    private static irqreturn_t port_isr(int irq, object? dev_id)
    {
        if (dev_id is not hub_port p || p.pending == 0)
            return IRQ_NONE;
        p.pending = 0;
        p.last_sample = jiffies;
        return IRQ_HANDLED;
    }

    private irqreturn_t aux_isr(int irq, object? dev_id)
    {
        if (port_b.pending == 0)
            return IRQ_NONE;
        port_b.pending--;
        return IRQ_HANDLED;
    }

    private static irqreturn_t aux2_thread(int irq, object? dev_id) => IRQ_HANDLED;

    private static irqreturn_t cal_isr(int irq, object? dev_id) => IRQ_HANDLED;

    private static irqreturn_t fifo_quick(int irq, object? dev_id)
    {
        this_cpu_inc(fifo_hits);
        return IRQ_HANDLED;
    }

    private irqreturn_t fifo_thread(int irq, object? dev_id)
    {
        port_a.pending++;
        return IRQ_HANDLED;
    }

    // Softirq (timer): GFP_ATOMIC-style allocations only.
    private void poll_fn()
    {
        if (next_poll < jiffies) // expect: KH5001 (raw < between the jiffies-derived field next_poll and jiffies)
            pr_warn("hub: poll late\n");
        var snap = kmalloc(32, GFP_NOWAIT | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_NOWAIT, which may not block)
        if (snap != NULL)
        {
            ptr_ref<sample_hdr>(snap).stamp = jiffies; // ok: KH3002 (inside the snap != NULL branch)
            spin_lock(hub_lock);
            history.Add(snap);
            spin_unlock(hub_lock);
        }
        var tmp = kmalloc(64, GFP_ATOMIC | __GFP_DMA); // ok: KH1004 (__GFP_DMA is not in GFP_SLAB_BUG_MASK: kmalloc-dma caches exist)
        if (!ZERO_OR_NULL_PTR(tmp))
            memset(tmp, 0, 64); // ok: KH3002 (guarded by !ZERO_OR_NULL_PTR)
        kfree(tmp);
        next_poll = jiffies + HZ / 10;
        mod_timer(poll_timer, next_poll);
    }

    private kptr make_frame(uint count)
    {
        if (count == 0 || count > 512)
            return ERR_PTR(-EINVAL);
        var frame = kmalloc(16 + count * 8UL, GFP_KERNEL);
        if (frame == NULL)
            return ERR_PTR(-ENOMEM); // ok: KH3004 (frame is NULL on this path)
        if (hub_irq == 0)
            return ERR_PTR(-ENODEV); // expect: KH3004 (frame is neither freed nor returned on this ERR_PTR path)
        ref var hdr = ref ptr_ref<sample_hdr>(frame); // ok: KH3002 (frame tested against NULL above)
        hdr.count = count;
        hdr.seq = ++seq;
        hdr.stamp = jiffies;
        return frame;
    }

    private static void fill_header(kptr buf, uint seq_no)
    {
        ref var hdr = ref ptr_ref<sample_hdr>(buf);
        hdr.seq = seq_no;
    }

    private void stash(kptr buf) => log_buf = buf;

    private static void drop_frame(kptr f) => kfree(f);

    private kptr grab_scratch(ulong len) => kmalloc(len, GFP_KERNEL);

    public int capture(uint count)
    {
        var f = make_frame(count);
        if (IS_ERR(f))
            return (int)PTR_ERR(f); // ok: KH3004 (f is an ERR_PTR on this path: nothing was allocated)
        memset(f + 16, 0, count * 8UL); // ok: KH3002 (make_frame returns ERR_PTR on failure, never NULL; IS_ERR tested)
        if (count > 256)
        {
            drop_frame(f);
            return -ENOSPC; // ok: KH3004 (drop_frame() freed f on this path)
        }
        var copy = kmalloc(16, GFP_KERNEL);
        if (copy == NULL)
        {
            kfree(f);
            return -ENOMEM;
        }
        fill_header(copy, seq);
        if (port_a.pending > 8)
        {
            kfree(f);
            return -EAGAIN; // expect: KH3004 (copy leaks: fill_header() only fills it, the caller still owns it)
        }
        stash(copy);
        drop_frame(f);
        kfree(f); // expect: KH3003 (drop_frame() already freed f on every path)
        return 0;
    }

    public int snapshot()
    {
        var s = grab_scratch(256);
        memset(s, 0, 256); // expect: KH3002 (grab_scratch() returns kmalloc's result, used before the NULL check)
        if (s == NULL)
            return -ENOMEM;
        var big = kvmalloc(64 * PAGE_SIZE, GFP_KERNEL);
        ptr_span(big, 16).Clear(); // expect: KH3002 (kvmalloc result dereferenced before any NULL check)
        if (big == NULL)
        {
            kfree(s);
            return -ENOMEM;
        }
        if (port_b.pending == 0)
        {
            spin_lock_bh(hub_lock);
            history.Add(s);
            spin_unlock_bh(hub_lock);
            kvfree(big);
            return -EAGAIN; // ok: KH3004 (s handed to the history list, big freed)
        }
        kvfree(big); // ok: KH3001 (kvmalloc memory freed with kvfree)
        kfree(s);
        return 0;
    }

    public int load_calibration(uint entries)
    {
        var tbl = vmalloc(entries * 32UL);
        if (tbl == NULL)
            return -ENOMEM;
        calib_started = jiffies;
        var tmp = kmalloc_array(entries, 8, GFP_KERNEL | __GFP_NOWARN | __GFP_RETRY_MAYFAIL); // ok: KH1004 (valid reclaim modifiers)
        if (tmp == NULL)
        {
            vfree(tbl); // ok: KH3001 (vmalloc memory freed with vfree)
            return -ENOMEM;
        }
        if (entries > 4096)
        {
            vfree(tmp); // expect: KH3001 (kmalloc_array memory freed with vfree)
            kfree(tbl); // expect: KH3001 (vmalloc memory freed with kfree)
            return -EINVAL;
        }
        memcpy(tbl, tmp, entries * 8UL);
        kfree(tmp); // ok: KH3001 (kmalloc_array memory freed with kfree)
        calib_table = tbl;
        return 0;
    }

    public int rebuild_index(uint n)
    {
        var idx = kvmalloc(n * 16UL, GFP_KERNEL);
        if (idx == NULL)
            return -ENOMEM;
        var bits = vzalloc(n / 8 + 1);
        if (bits == NULL)
            return -ENOMEM; // expect: KH3004 (idx from kvmalloc is neither freed nor stored on this path)
        memset(idx, 0, n * 16UL); // ok: KH3002 (idx tested against NULL above)
        if (n > 1024)
        {
            kvfree(idx);
            vfree(bits); // ok: KH3001 (vzalloc memory freed with vfree)
            return -EINVAL;
        }
        kvfree(bits); // ok: KH3001 (kvfree accepts vmalloc memory)
        kvfree(idx); // ok: KH3003 (the earlier kvfree(idx) is on the n > 1024 path, which returned)
        if (n < 8)
            kvfree(idx); // expect: KH3003 (idx was already freed on this path)
        return 0;
    }

    public int calibration_done()
    {
        if (jiffies >= calib_started + 5 * HZ) // expect: KH5001 (raw >= between jiffies and calib_started + duration)
            return -EBUSY;
        if (time_after_eq(jiffies, calib_started + 2 * HZ)) // ok: KH5001 (time_after_eq is wrap-safe)
            pr_info("hub: calibration slow\n");
        if (next_poll == calib_started) // ok: KH5001 (equality is not an ordering comparison)
            return 1;
        return time_before(jiffies, next_poll) ? 0 : 1; // ok: KH5001 (time_before is wrap-safe)
    }

    public int set_ranges(uint n)
    {
        var ranges = kcalloc(n, 8, GFP_HIGHUSER); // expect: KH1004 (__GFP_HIGHMEM passed to a kmalloc-family allocation)
        if (ranges == NULL)
            return -ENOMEM;
        var hints = kzalloc(64, GFP_NOIO | __GFP_NOFAIL); // ok: KH1004 (GFP_NOIO may block, so __GFP_NOFAIL is valid)
        ptr_ref<uint>(hints) = n; // ok: KH3002 (__GFP_NOFAIL allocation cannot return NULL)
        kfree(hints);
        kfree(ranges);
        kfree(log_buf);
        kfree(log_buf); // expect: KH3003 (log_buf freed twice in a row)
        log_buf = NULL;
        kfree(log_buf); // ok: KH3003 (log_buf was reassigned to NULL: kfree(NULL) is a no-op)
        return 0;
    }

    public long hub_ioctl(uint cmd, ulong arg)
    {
        var mm = current.mm;
        if (mm != init_mm && cmd == 1) // expect: KH6001 (a local holding current.mm compared with init_mm)
            return -EPERM;
        if (mm == null) // ok: KH6001 (the correct kernel-thread test)
            return -EINVAL;
        if (!is_user_task(current))
            return -EPERM;
        var sb = new StringBuilder(); // ok: KH9001 (System.Text is allowlisted)
        sb.Append("hub: ioctl ").Append(cmd);
        seen_at[cmd] = jiffies; // ok: KH9001 (Dictionary is allowlisted)
        pr_info(sb.ToString() + "\n");
        if (cmd == 9)
            System.IO.File.AppendAllText("/tmp/hub.log", sb.ToString()); // expect: KH9001 (file I/O is refused)
        int jitter = new System.Random().Next(4); // expect: KH9001 (Random is refused: nondeterministic)
        return jitter;
    }

    private static bool is_user_task(task_struct t) => t.mm != init_mm; // expect: KH6001 (task's mm compared with init_mm)

    public void remove()
    {
        del_timer_sync(poll_timer);
        free_irq(hub_irq, port_b); // ok: KH4002 (port_b is one of hub_irq's dev_ids)
        free_irq(hub_irq, port_a); // ok: KH4002 (port_a is one of hub_irq's dev_ids)
        free_irq(alarm_irq, null); // expect: KH4002 (alarm_irq was requested only with this)
        free_irq(aux_irq, null); // ok: KH4002 (same null dev_id as the only request of aux_irq)
        free_irq(aux2_irq, this); // expect: KH4002 (aux2_irq was requested only with a null dev_id)
        free_irq(cal_irq, port_a); // ok: KH4002 (the request passed cookie, a local assigned once from port_a)
        free_irq(fifo_irq, this); // ok: KH4002 (fifo_irq requested with this)
        foreach (var p in history)
            kfree(p);
        history.Clear();
        vfree(calib_table); // ok: KH3001 (calib_table only ever holds vmalloc memory)
        kfree(log_buf);
    }
}
