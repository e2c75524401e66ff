// A firmware loader: staging buffers from vmalloc/kvmalloc, a bounce area from __get_free_pages, try/finally teardown,
// a loader kthread. Holds a ladder that jumps past a free, a free that no longer matches a reassigned pointer, and locks kept on error returns.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5MFwLoader;

public struct fw_header
{
    public uint magic;
    public uint version;
    public ulong body_len;
}

public struct sg_entry
{
    public ulong addr;
    public uint len;
    public uint pad;
}

public sealed class FwLoader
{
    private const uint FW_MAGIC = 0x46573552;
    private const uint PATCH_MAGIC = 0x50543552;
    private const int BOUNCE_ORDER = 3;
    private const ulong SG_ENTRY = 16;
    private const ulong HDR_SIZE = 16;
    private const uint NR_BLOCKS = 64;

    private readonly mutex fw_lock = new();
    private readonly semaphore fw_sem = new(1);
    private kptr fw_image = NULL;
    private ulong fw_len;
    private ulong fw_bounce;
    private kptr fw_sg = NULL;
    private page? fw_scratch;
    private task_struct? loader;
    private uint erased_mask;
    private uint version;

    // Four resources, unwound by a ladder; the alloc_page failure jumps one rung too far.
    public int prepare(ulong image_len, int nsg)
    {
        kptr img;
        kptr sg;
        ulong bounce;
        page? scratch;

        if (nsg <= 0 || image_len < HDR_SIZE)
            return -EINVAL;
        img = kvmalloc(image_len, GFP_KERNEL);
        if (img == NULL)
            return -ENOMEM;
        bounce = __get_free_pages(GFP_KERNEL, BOUNCE_ORDER);
        if (bounce == 0)
            goto err_free_img;
        sg = kmalloc_array((ulong)nsg, SG_ENTRY, GFP_KERNEL);
        if (sg == NULL)
            goto err_free_bounce;
        scratch = alloc_page(GFP_KERNEL);
        if (scratch == null)
            goto err_free_bounce;
        memset(sg, 0, (ulong)nsg * SG_ENTRY); // ok: sg tested against NULL above
        if ((ulong)nsg * PAGE_SIZE < image_len)
            goto err_free_scratch;

        fw_image = img;
        fw_len = image_len;
        fw_bounce = bounce;
        fw_sg = sg;
        fw_scratch = scratch;
        return 0;

    err_free_scratch:
        __free_page(scratch);
    err_free_sg:
        kfree(sg); // ok: kmalloc_array memory goes back with kfree
    err_free_bounce:
        free_pages(bounce, BOUNCE_ORDER); // ok: same constant order as the __get_free_pages above
    err_free_img:
        kvfree(img); // ok: kvmalloc memory freed with kvfree
        return -ENOMEM; // expect: KH3004 (when alloc_page fails the goto err_free_bounce skips kfree(sg))
    }

    private static bool header_ok(kptr hdr) => ptr_ref<fw_header>(hdr).magic == FW_MAGIC;

    public int load(kptr blob, ulong len)
    {
        if (len < HDR_SIZE)
            return -EINVAL;
        kptr staging = vmalloc(len);
        if (staging == NULL)
            return -ENOMEM;
        try
        {
            memcpy(staging, blob, len);
            if (!header_ok(staging))
                return -EINVAL; // ok: the finally block vfrees staging on this exit
            mutex_lock(fw_lock); // ok: the inner finally releases fw_lock on every exit
            try
            {
                if (fw_image == NULL || len > fw_len)
                    return -ENOSPC; // ok: the inner finally unlocks fw_lock, the outer one frees staging
                memcpy(fw_image, staging, len);
                version = ptr_ref<fw_header>(staging).version;
            }
            finally
            {
                mutex_unlock(fw_lock);
            }
            return 0;
        }
        finally
        {
            vfree(staging); // ok: vmalloc memory, freed once on every exit of the try
        }
    }

    private kptr read_header(ulong off)
    {
        if (fw_image == NULL || off + HDR_SIZE > fw_len)
            return ERR_PTR(-EINVAL);
        var h = kzalloc(HDR_SIZE, GFP_KERNEL);
        if (h == NULL)
            return ERR_PTR(-ENOMEM);
        memcpy(h, fw_image + off, HDR_SIZE);
        return h;
    }

    public long header_version(ulong off)
    {
        var h = read_header(off);
        if (IS_ERR(h))
            return PTR_ERR(h);
        uint v = ptr_ref<fw_header>(h).version; // ok: IS_ERR test of an ERR_PTR-returning helper that never returns NULL
        kfree(h);
        return v;
    }

    public int apply_patch(kptr patch, ulong len)
    {
        if (len < HDR_SIZE)
            return -EINVAL;
        var work = kvmalloc(len, GFP_KERNEL);
        if (work == NULL)
            return -ENOMEM;
        try
        {
            memcpy(work, patch, len);
            if (ptr_ref<uint>(work) != PATCH_MAGIC)
            {
                kvfree(work);
                return -EINVAL;
            }
            pr_info("r5m_fw: patch applied\n");
            return 0;
        }
        finally
        {
            kvfree(work); // expect: KH3003 (the bad-magic exit already kvfree'd work before the finally runs)
        }
    }

    public int reload_section(ulong hdr_off)
    {
        kptr buf = kzalloc(HDR_SIZE, GFP_KERNEL);
        if (buf == NULL)
            return -ENOMEM;
        mutex_lock(fw_lock);
        if (fw_image != NULL && hdr_off + HDR_SIZE <= fw_len)
            memcpy(buf, fw_image + hdr_off, HDR_SIZE);
        mutex_unlock(fw_lock);
        ulong body = ptr_ref<fw_header>(buf).body_len;
        kfree(buf);
        if (body == 0 || body > 16 * PAGE_SIZE)
            return -EINVAL; // ok: the header buffer was freed just above
        buf = vmalloc(body);
        if (buf == NULL)
            return -ENOMEM;
        memset(buf, 0, body);
        pr_info("r5m_fw: section staged\n");
        kfree(buf); // expect: KH3001 (buf was reassigned to vmalloc memory, which kfree cannot take)
        return 0;
    }

    public int stage_section(ulong body)
    {
        kptr buf = kzalloc(HDR_SIZE, GFP_KERNEL);
        if (buf == NULL)
            return -ENOMEM;
        ptr_ref<fw_header>(buf).body_len = body;
        kfree(buf);
        buf = vmalloc(body);
        if (buf == NULL)
            return -ENOMEM;
        memset(buf, 0xff, body);
        vfree(buf); // ok: buf was reassigned to vmalloc memory between the two frees
        return 0;
    }

    public int bounce_copy(ulong len, int order)
    {
        if (len > (PAGE_SIZE << BOUNCE_ORDER))
            return -EINVAL;
        ulong extra = __get_free_pages(GFP_KERNEL, order);
        if (extra == 0)
            return -ENOMEM;
        memset((kptr)extra, 0, PAGE_SIZE);
        free_pages(extra, order); // ok: the order is not a constant, and it is the allocation's own
        ulong tmp = __get_free_pages(GFP_KERNEL, BOUNCE_ORDER);
        if (tmp == 0)
            return -ENOMEM;
        memcpy((kptr)tmp, (kptr)fw_bounce, len);
        free_pages(tmp, 2); // expect: KH3001 (pages from __get_free_pages of order BOUNCE_ORDER = 3 freed with order 2)
        return 0;
    }

    public int build_sg(int n)
    {
        var tbl = kmalloc_array((ulong)n, SG_ENTRY, GFP_KERNEL);
        memset(tbl, 0, (ulong)n * SG_ENTRY); // expect: KH3002 (kmalloc_array result used before any NULL check)
        mutex_lock(fw_lock);
        var old = fw_sg;
        fw_sg = tbl;
        mutex_unlock(fw_lock);
        kfree(old);
        return 0;
    }

    public int snapshot(ulong ubuf, bool quiet)
    {
        var snap = kvmalloc(fw_len, GFP_KERNEL);
        if (!quiet)
        {
            if (snap == NULL)
            {
                pr_err("r5m_fw: no memory for snapshot\n");
                return -ENOMEM;
            }
        }
        mutex_lock(fw_lock);
        memcpy(snap, fw_image, fw_len); // expect: KH3002 (when quiet is true snap reaches memcpy without a NULL check)
        mutex_unlock(fw_lock);
        ulong left = copy_to_user(ubuf, snap, fw_len);
        kvfree(snap);
        return left != 0 ? -EFAULT : 0;
    }

    public int commit()
    {
        if (down_interruptible(fw_sem) != 0) // ok: down_interruptible holds the semaphore only when it returns 0
            return -EINTR;
        mutex_lock(fw_lock); // expect: KH2003 (fw_lock still held on the return -ENODEV)
        if (fw_image == NULL)
        {
            up(fw_sem);
            return -ENODEV;
        }
        version++;
        mutex_unlock(fw_lock);
        up(fw_sem);
        return 0;
    }

    public int erase_block(uint block)
    {
        down(fw_sem); // expect: KH2003 (fw_sem is not released with up() on the return -EINVAL)
        if (block >= NR_BLOCKS)
            return -EINVAL;
        erased_mask |= 1u << (int)(block % 32);
        up(fw_sem);
        return 0;
    }

    public int try_verify()
    {
        if (down_trylock(fw_sem) != 0) // ok: down_trylock returns 0 when it took the semaphore, so the -EBUSY exit holds nothing
            return -EBUSY;
        bool good = fw_image != NULL && header_ok(fw_image);
        up(fw_sem);
        return good ? 0 : -EIO;
    }

    // Process context: a kernel thread that reloads the image when asked.
    private int loader_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            var probe = kzalloc(HDR_SIZE, GFP_KERNEL);
            if (probe != NULL)
            {
                ptr_ref<fw_header>(probe).magic = FW_MAGIC; // ok: inside the probe != NULL branch
                if (header_ok(probe))
                    try_verify();
                kfree(probe);
            }
            msleep(100);
        }
        return 0;
    }

    public void start() => loader = kthread_run(loader_thread, this, "r5m_fwload");

    public void teardown()
    {
        if (loader is not null)
            kthread_stop(loader);
        loader = null;
        if (fw_scratch is not null)
            __free_page(fw_scratch);
        fw_scratch = null;
        kfree(fw_sg);
        fw_sg = NULL;
        free_pages(fw_bounce, BOUNCE_ORDER);
        fw_bounce = 0;
        kvfree(fw_image);
        fw_image = NULL;
    }
}
