// DMA descriptor ring of a small block device: goto-ladder probes, a switch-based ioctl with goto case, and
// loops that drop and retake the ring lock. Mistakes: a skipped ladder rung, a double free through a shared
// label, a return and a double acquire inside switch cases, sleeping/allocating inside lock-holding loops.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2EDmaRing;

public sealed class ring_state
{
    public readonly spinlock_t slock = new();
    public int head, tail, inflight;
}

public sealed class DmaRing
{
    private const int RING_SLOTS = 8;
    private const int CMD_RESET = 1, CMD_FLUSH = 2, CMD_RESIZE = 3, CMD_STATS = 4, CMD_KICK = 5, CMD_POLL = 6;

    private readonly ring_state ring = new();
    private readonly mutex cfg_lock = new();
    private readonly spinlock_t kick_lock = new();
    private readonly completion flush_done = new();
    private readonly tasklet_struct done_tasklet = new();
    private static readonly percpu<long> completions = DEFINE_PER_CPU<long>();
    private readonly kptr[] slots = new kptr[RING_SLOTS];
    private kptr desc_table = NULL, bounce = NULL, last_error = NULL;
    private uint irq;
    private int status_reg, kicks, ring_size = RING_SLOTS;
    private ulong saved_flags;
    private bool stopped;

    public int probe(uint irq_line)
    {
        int err;
        kptr desc = kzalloc(RING_SLOTS * 64, GFP_KERNEL);
        if (desc == NULL)
            return -ENOMEM; // ok: KH3004 (desc is NULL on this path and nothing else is allocated yet)
        kptr bb = kmalloc(PAGE_SIZE, GFP_KERNEL);
        if (bb == NULL) {
            err = -ENOMEM;
            goto err_free_desc;
        }
        tasklet_setup(done_tasklet, t => complete_tasklet());
        irq = irq_line;
        err = request_irq(irq, ring_isr, IRQF_TRIGGER_RISING, "dmaring", this);
        if (err != 0)
            goto err_free_bounce;
        desc_table = desc;
        bounce = bb;
        return 0;

    err_free_bounce:
        kfree(bb);
    err_free_desc:
        kfree(desc); // ok: KH3003 (the rungs fall through in reverse order, each freeing a different buffer once)
        return err; // ok: KH3004 (the ladder frees bb and desc on every error path that reaches it)
    }

    // The probe of the legacy board revision: same ladder, but the request_irq failure jumps one rung too far.
    public int probe_legacy(uint irq_line)
    {
        int err;
        kptr desc = kzalloc(RING_SLOTS * 64, GFP_KERNEL);
        if (desc == NULL)
            return -ENOMEM;
        kptr bb = kmalloc(PAGE_SIZE, GFP_KERNEL | __GFP_ZERO);
        if (bb == NULL) {
            err = -ENOMEM;
            goto err_free_desc;
        }
        err = request_irq(irq_line, ring_isr, IRQF_TRIGGER_RISING, "dmaring-legacy", this);
        if (err != 0)
            goto err_free_desc;
        irq = irq_line;
        desc_table = desc;
        bounce = bb;
        return 0;

    err_free_desc:
        kfree(desc);
        return err; // expect: KH3004 (when request_irq fails the goto skips a kfree(bb) rung: the bounce buffer leaks)
    }

    public int resize(int new_slots)
    {
        int err = 0;
        if (new_slots <= 0 || new_slots > 64)
            return -EINVAL;
        kptr fresh = kcalloc((ulong)new_slots, 64, GFP_KERNEL);
        if (fresh == NULL)
            return -ENOMEM;
        kptr shadow = kmalloc((ulong)new_slots * 8, GFP_KERNEL);
        if (shadow == NULL) {
            kfree(fresh);
            err = -ENOMEM;
            goto out_free_fresh;
        }
        memset(shadow, 0, (ulong)new_slots * 8);
        mutex_lock(cfg_lock);
        kptr old = desc_table;
        desc_table = fresh;
        ring_size = new_slots;
        fresh = old;
        mutex_unlock(cfg_lock);
        kfree(shadow);
    out_free_fresh:
        kfree(fresh); // expect: KH3003 (on the shadow-failure path fresh was already freed before 'goto out_free_fresh')
        return err;
    }

    public int ioctl(int cmd, ulong arg)
    {
        int ret = 0;
        switch (cmd) {
            case CMD_RESET:
                mutex_lock(cfg_lock);
                spin_lock_irq(ring.slock);
                ring.head = ring.tail = 0;
                spin_unlock_irq(ring.slock); // ok: KH2004 (spin_lock_irq paired with spin_unlock_irq)
                mutex_unlock(cfg_lock);
                if (arg != 0)
                    goto case CMD_FLUSH;
                break;
            case CMD_FLUSH:
                mutex_lock(cfg_lock); // ok: KH2003 (CMD_RESET released cfg_lock before 'goto case': no double acquire)
                reinit_completion(flush_done);
                stopped = true;
                wait_for_completion(flush_done); // ok: KH1001 (only the cfg_lock mutex is held: sleeping under a mutex is allowed)
                mutex_unlock(cfg_lock);
                break;
            case CMD_RESIZE:
                spin_lock_bh(kick_lock); // expect: KH2003 (the 'return -EBUSY' inside case CMD_RESIZE leaves kick_lock held)
                if (kicks != 0)
                    return -EBUSY;
                spin_unlock_bh(kick_lock);
                ret = resize((int)arg);
                break;
            case CMD_STATS:
                mutex_lock(cfg_lock);
                if (arg != 0) {
                    mutex_lock(cfg_lock); // expect: KH2003 (double acquire: cfg_lock is already held since the top of case CMD_STATS)
                    ring.inflight = 0;
                    mutex_unlock(cfg_lock);
                }
                ret = ring_size;
                mutex_unlock(cfg_lock);
                break;
            case CMD_KICK:
                spin_lock_bh(kick_lock);
                kicks++;
                spin_unlock(kick_lock); // expect: KH2004 (kick_lock was taken with spin_lock_bh and released with spin_unlock)
                tasklet_schedule(done_tasklet);
                break;
            case CMD_POLL:
                ret = poll_status(arg != 0);
                if (ret != 0)
                    log_error(GFP_KERNEL); // ok: KH1002 (the ioctl runs in process context with nothing held)
                break;
            default:
                ret = -EINVAL;
                break;
        }
        return ret;
    }

    // Hard-IRQ handler.
    private irqreturn_t ring_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not DmaRing dev || (dev.status_reg & 2) == 0)
            return IRQ_NONE;
        spin_lock(ring.slock);
        ring.head = (ring.head + 1) % RING_SLOTS;
        ring.inflight++;
        spin_unlock(ring.slock);
        if ((dev.status_reg & 4) != 0)
            log_error(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL handed to an allocating helper from the hard-IRQ handler)
        poll_status(false); // ok: KH1001 (constant false: the helper's msleep branch cannot be taken from the IRQ handler)
        tasklet_schedule(done_tasklet);
        return IRQ_HANDLED;
    }

    private void log_error(gfp_t gfp)
    {
        kptr rec = kzalloc(32, gfp); // ok: KH1002 (gfp is a pass-through parameter: the callers are checked instead)
        if (rec == NULL)
            return;
        ptr_ref<int>(rec) = status_reg;
        kfree(last_error);
        last_error = rec;
    }

    private int poll_status(bool may_sleep)
    {
        for (int tries = 0; tries < 10; tries++) {
            if ((status_reg & 1) == 0)
                return 0;
            if (may_sleep) msleep(1);
            else mdelay(1);
        }
        return -EIO;
    }

    // Tasklet (softirq): pops completed slots; the ring lock is dropped per item but the context stays atomic.
    private void complete_tasklet()
    {
        int n = 0;
        do {
            spin_lock_irq(ring.slock); // ok: KH2003 (released before the break and at the end of every iteration)
            if (ring.tail == ring.head) {
                spin_unlock_irq(ring.slock); // ok: KH2004 (spin_lock_irq paired with spin_unlock_irq before the break)
                break;
            }
            int idx = ring.tail;
            ring.tail = (ring.tail + 1) % RING_SLOTS;
            ring.inflight--;
            spin_unlock_irq(ring.slock);
            kptr rec = kmalloc(32, GFP_KERNEL); // expect: KH1002 (tasklet callback: softirq context even though ring.slock was dropped)
            if (rec == NULL)
                continue;
            ptr_ref<int>(rec) = idx;
            spin_lock_irq(ring.slock);
            kfree(slots[idx]);
            slots[idx] = rec;
            spin_unlock_irq(ring.slock);
            kptr note = kmalloc(16, GFP_NOWAIT); // ok: KH1002 (GFP_NOWAIT never blocks)
            kfree(note); // ok: KH3003 (note is a fresh allocation on every round of the do-while: reassigned between the frees)
        } while (++n < RING_SLOTS);
        this_cpu_add(completions, n);
        complete(flush_done);
    }

    public int drain_ring()
    {
        int drained = 0;
        spin_lock_irq(ring.slock);
        for (int i = 0; i < RING_SLOTS; i++) {
            if (slots[i] == NULL)
                continue;
            if (ring.inflight > 4) {
                spin_unlock_irq(ring.slock);
                msleep(1); // ok: KH1001 (ring.slock is dropped right before sleeping on this branch)
                spin_lock_irq(ring.slock); // ok: KH2003 (re-taken after the unlock just above: not a double acquire)
            }
            while ((status_reg & 1) != 0)
                usleep_range(50, 100); // expect: KH1001 (ring.slock is held with irqs off on every path here: the inflight > 4 branch re-takes it after its msleep)
            kfree(slots[i]); // ok: KH3003 (each iteration frees a different slot, and the slot is set to NULL right after)
            slots[i] = NULL;
            drained++;
        }
        spin_unlock_irq(ring.slock);
        return drained;
    }

    public int account_batch(int kind, int count)
    {
        int cpu = get_cpu(); // expect: KH2001 (the 'return -EINVAL' in case 1 leaves preemption disabled)
        switch (kind) {
            case 0:
                per_cpu(completions, cpu) += count;
                break;
            case 1:
                if (count < 0)
                    return -EINVAL;
                per_cpu(completions, cpu) -= count;
                break;
            default:
                put_cpu(); // ok: KH2001 (the default case releases before its own return)
                return -ENOSYS;
        }
        put_cpu();
        return 0;
    }

    public int snapshot(int[] heads)
    {
        int n = 0;
        for (int i = 0; i < heads.Length && i < RING_SLOTS; i++) {
            local_irq_save(out ulong flags); // expect: KH2002 (the 'break' when stopped leaves the loop and the method with interrupts disabled)
            if (stopped)
                break;
            heads[i] = slots[i] == NULL ? -1 : ring.head;
            local_irq_restore(flags);
            n++;
        }
        return n;
    }

    public void note_kick(int v)
    {
        spin_lock(kick_lock);
        kptr note = kmalloc(16, GFP_NOFS); // expect: KH1002 (GFP_NOFS still allows direct reclaim, and kick_lock is held)
        if (note != NULL) {
            ptr_ref<int>(note) = v;
            kfree(last_error);
            last_error = note;
        }
        kicks++;
        spin_unlock_bh(kick_lock); // expect: KH2004 (kick_lock was taken with plain spin_lock and released with spin_unlock_bh)
    }

    private void hw_window_close()
    {
        status_reg &= ~1;
        local_irq_restore(saved_flags); // ok: KH2002 (hw_kick() saved these flags into the field; this helper's summary is the restore)
    }

    public void hw_kick()
    {
        local_irq_save(out saved_flags); // ok: KH2002 (the flags go to a field and hw_window_close() restores them before hw_kick returns)
        status_reg |= 1;
        ring.tail = ring.head;
        hw_window_close();
    }

    public int peek(int idx)
    {
        local_irq_save(out ulong flags); // ok: KH2002 (restored in the finally on both returns)
        try {
            if (idx < 0 || idx >= RING_SLOTS)
                return -EINVAL;
            return slots[idx] == NULL ? 0 : 1;
        } finally {
            local_irq_restore(flags);
        }
    }

    private void quiesce()
    {
        local_irq_save(out ulong flags); // ok: KH2002 (restored on the single exit below)
        spin_lock(ring.slock);
        stopped = true;
        ring.inflight = 0;
        spin_unlock(ring.slock); // ok: KH2004 (taken with plain spin_lock; the interrupt state belongs to the enclosing local_irq_save)
        local_irq_restore(flags);
    }

    public void remove()
    {
        quiesce();
        free_irq(irq, this);
        tasklet_kill(done_tasklet);
        for (int i = 0; i < RING_SLOTS; i++)
            kfree(slots[i]);
        kfree(desc_table);
        kfree(bounce);
        kfree(last_error);
        desc_table = bounce = last_error = NULL;
    }
}
