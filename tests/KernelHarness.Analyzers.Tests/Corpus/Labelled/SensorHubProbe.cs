// A sensor-hub driver: probe allocates a register shadow, a calibration table and a vmalloc'd sample FIFO,
// requests a shared IRQ and unwinds on failure. Holds leaks on error paths, unchecked allocations, a double
// free, a vmalloc buffer returned with kfree and init_mm used as the user-context test.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SensorHubProbe;

public struct sample_rec
{
    public uint channel;
    public int value;
    public ulong stamp;
}

public sealed class SensorHub
{
    private const ulong SHADOW_SIZE = 256;
    private const ulong CAL_SIZE = 128;
    private const ulong SAMPLE_SIZE = 16;
    private const uint MAX_FIFO = 4096;
    private const ulong EVENT_SIZE = 32;

    private readonly spinlock_t fifo_lock = new();
    private readonly tasklet_struct bh = new();
    private readonly timer_list poll_timer = new();
    private readonly work_struct recal_work = new();
    private readonly List<kptr> events = new();
    private kptr regs_shadow;
    private kptr calib;
    private kptr fifo;
    private kptr stream_ring;
    private uint fifo_len;
    private uint fifo_head;
    private uint irq;
    private uint pending_status;
    private ulong lost;

    public int probe(uint irq_line, uint nr_samples)
    {
        irq = irq_line;
        var shadow = kzalloc(SHADOW_SIZE, GFP_KERNEL);
        if (shadow == NULL)
            return -ENOMEM; // ok: KH3004 (shadow is NULL on this path and nothing else is allocated yet)
        var cal = kmalloc(CAL_SIZE, GFP_KERNEL);
        if (cal == NULL)
            return -ENOMEM; // expect: KH3004 (shadow is neither freed nor stored when the calibration table fails)
        if (nr_samples == 0 || nr_samples > MAX_FIFO)
        {
            kfree(cal);
            return -EINVAL; // expect: KH3004 (only cal is freed; shadow still leaks)
        }
        int ret = -ENOMEM;
        var f = vmalloc(nr_samples * SAMPLE_SIZE);
        if (f == NULL)
            goto err_cal;
        memset(f, 0, nr_samples * SAMPLE_SIZE); // ok: KH3002 (checked by the goto above)
        tasklet_setup(bh, t => drain_fifo());
        timer_setup(poll_timer, t => poll(), 0);
        INIT_WORK(recal_work, recalibrate);
        int err = request_irq(irq, hub_isr, IRQF_SHARED, "sensorhub", this);
        if (err != 0)
        {
            ret = err;
            goto err_fifo;
        }
        regs_shadow = shadow;
        calib = cal;
        fifo = f;
        fifo_len = nr_samples;
        mod_timer(poll_timer, jiffies + HZ);
        return 0;

    err_fifo:
        vfree(f); // ok: KH3001 (vmalloc memory freed with vfree)
    err_cal:
        kfree(cal);
        kfree(shadow); // ok: KH3001 (kzalloc memory freed with kfree)
        return ret; // ok: KH3004 (the ladder frees f, cal and shadow on every path that reaches it)
    }

    // Called again when the user switches the hub to streaming mode.
    public int enable_streaming(uint extra)
    {
        var ring = kcalloc(extra, SAMPLE_SIZE, GFP_KERNEL);
        if (ring == NULL)
            return -ENOMEM;
        var hdr = kmalloc(EVENT_SIZE, GFP_KERNEL);
        if (hdr == NULL)
        {
            kfree(ring);
            return -ENOMEM; // ok: KH3004 (ring freed just above, hdr is NULL)
        }
        memset(hdr, 0, EVENT_SIZE);
        if (pending_status != 0)
        {
            kfree(hdr);
            return -EBUSY; // expect: KH3004 (ring from kcalloc leaks: only hdr is freed)
        }
        spin_lock_irq(fifo_lock);
        events.Add(hdr);
        var old_ring = stream_ring;
        stream_ring = ring;
        spin_unlock_irq(fifo_lock);
        kfree(old_ring);
        return 0;
    }

    private irqreturn_t hub_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorHub hub)
            return IRQ_NONE;
        uint status = hub.pending_status;
        if (status == 0)
            return IRQ_NONE;
        spin_lock(hub.fifo_lock);
        hub.fifo_head = (hub.fifo_head + 1) % (hub.fifo_len == 0 ? 1 : hub.fifo_len);
        spin_unlock(hub.fifo_lock);
        tasklet_schedule(hub.bh);
        return IRQ_HANDLED;
    }

    // Softirq: copy the newest sample out of the FIFO into an event record.
    private void drain_fifo()
    {
        var rec = kmalloc(SAMPLE_SIZE, GFP_ATOMIC);
        spin_lock_irqsave(fifo_lock, out var flags);
        ulong off = fifo_head * SAMPLE_SIZE;
        memcpy(rec, fifo + off, SAMPLE_SIZE); // expect: KH3002 (GFP_ATOMIC kmalloc can fail; rec is written unchecked)
        events.Add(rec);
        spin_unlock_irqrestore(fifo_lock, flags);
    }

    // Softirq: count lost samples, then kick the recalibration work.
    private void poll()
    {
        var probe_rec = kzalloc(SAMPLE_SIZE, GFP_ATOMIC);
        if (!ZERO_OR_NULL_PTR(probe_rec))
        {
            ref var s = ref ptr_ref<sample_rec>(probe_rec); // ok: KH3002 (guarded by !ZERO_OR_NULL_PTR)
            s.stamp = jiffies;
            kfree(probe_rec);
        }
        else
        {
            lost++;
        }
        schedule_work(recal_work);
        mod_timer(poll_timer, jiffies + HZ);
    }

    private kptr alloc_event(uint channel)
    {
        var ev = kzalloc(EVENT_SIZE, GFP_KERNEL);
        if (ev == NULL)
            return NULL;
        ptr_ref<sample_rec>(ev).channel = channel;
        return ev;
    }

    private kptr get_frame(uint words)
    {
        if (words == 0)
            return ERR_PTR(-EINVAL);
        var p = kmalloc_array(words, 4, GFP_KERNEL);
        if (p == NULL)
            return ERR_PTR(-ENOMEM); // ok: KH3004 (p is NULL on this path)
        return p;
    }

    // Process context (work item).
    private void recalibrate(work_struct w)
    {
        var ev = alloc_event(0);
        ptr_ref<sample_rec>(ev).stamp = jiffies; // expect: KH3002 (alloc_event() returns kzalloc's result, which may be NULL)
        spin_lock_irq(fifo_lock);
        events.Add(ev);
        spin_unlock_irq(fifo_lock);

        var fr = get_frame(32);
        if (IS_ERR(fr))
            return;
        memset(fr, 0, 32 * 4); // ok: KH3002 (get_frame() returns ERR_PTR on failure; IS_ERR is the right test)
        memcpy(calib, fr, 32 * 4);
        kfree(fr); // ok: KH3001 (kmalloc_array memory freed with kfree)
    }

    public int snapshot_regs(bool from_user)
    {
        if (from_user && current.mm == init_mm) // expect: KH6001 (a user task's mm is never init_mm; test current.mm == null)
            return -EPERM;
        var snap = kmalloc(SHADOW_SIZE, GFP_KERNEL);
        if (from_user)
        {
            if (snap == NULL)
                return -ENOMEM;
            pr_info("sensorhub: register snapshot requested\n");
        }
        memcpy(snap, regs_shadow, SHADOW_SIZE); // expect: KH3002 (snap is checked only when from_user; the other path reaches memcpy unchecked)
        spin_lock_irq(fifo_lock);
        events.Add(snap);
        spin_unlock_irq(fifo_lock);
        return 0;
    }

    public int self_test()
    {
        var pattern = kmalloc(SHADOW_SIZE, GFP_KERNEL);
        memset(pattern, 0xa5, SHADOW_SIZE); // expect: KH3002 (the NULL check comes only after this first use)
        if (pattern == NULL)
            return -ENOMEM;
        int ret = 0;
        var readback = kmalloc(SHADOW_SIZE, GFP_KERNEL);
        if (readback == NULL)
            goto out_pattern;
        memcpy(readback, regs_shadow, SHADOW_SIZE); // ok: KH3002 (readback checked by the goto above)
        if (memcmp(readback, pattern, SHADOW_SIZE) != 0)
        {
            kfree(readback);
            ret = -EIO;
        }
        kfree(readback); // expect: KH3003 (on the mismatch path readback was already freed)
    out_pattern:
        kfree(pattern);
        return readback == NULL ? -ENOMEM : ret;
    }

    public long upload_calibration(ulong user_ptr, ulong len)
    {
        if (current.mm == init_mm) // expect: KH6001 (task mm is never init_mm; the test is current.mm == null)
            return -EPERM;
        if (len > CAL_SIZE)
            return -EINVAL;
        var staging = kmalloc(len, GFP_KERNEL);
        if (staging == NULL)
            return -ENOMEM;
        if (copy_from_user(staging, user_ptr, len) != 0)
        {
            kfree(staging);
            return -EFAULT; // ok: KH3004 (staging is freed just above)
        }
        memcpy(calib, staging, len);
        kfree(staging);
        return (long)len;
    }

    public long flush_one(ulong user_ptr)
    {
        var ev = kmalloc(EVENT_SIZE, GFP_KERNEL);
        if (ev == NULL)
            return -ENOMEM;
        spin_lock_irq(fifo_lock);
        bool have = events.Count > 0;
        if (have)
        {
            memcpy(ev, events[0], EVENT_SIZE);
            kfree(events[0]);
            events.RemoveAt(0);
        }
        spin_unlock_irq(fifo_lock);
        if (!have)
        {
            kfree(ev);
            return -EAGAIN;
        }
        long ret = (long)EVENT_SIZE;
        if (copy_to_user(user_ptr, ev, EVENT_SIZE) != 0)
        {
            kfree(ev);
            ret = -EFAULT;
        }
        else
        {
            lost = 0;
            kfree(ev); // ok: KH3003 (this free and the one in the copy-failure branch are on disjoint paths)
        }
        return ret;
    }

    public long read_status(ulong user_ptr)
    {
        if (current.mm is null) // ok: KH6001 (the correct user-context test: kernel threads have mm == null)
            return -EINVAL;
        return put_user(pending_status, user_ptr);
    }

    public void remove()
    {
        free_irq(irq, this);
        del_timer_sync(poll_timer);
        cancel_work_sync(recal_work);
        tasklet_kill(bh);
        kfree(regs_shadow);
        spin_lock_irq(fifo_lock);
        foreach (var e in events)
            kfree(e);
        events.Clear();
        spin_unlock_irq(fifo_lock);
        kfree(fifo); // expect: KH3001 (fifo only ever holds vmalloc memory, freed with kfree)
        kfree(calib);
        kfree(stream_ring); // ok: KH3001 (stream_ring only ever holds kcalloc memory, which kfree accepts)
        kfree(regs_shadow); // expect: KH3003 (regs_shadow was freed at the top of remove() and not reassigned)
    }
}
